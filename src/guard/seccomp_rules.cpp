#include "guard/seccomp_rules.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <utility>

namespace veil::guard {
namespace {

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

uint32_t action(Mode m, bool notify, int err) {
  if (notify) return SCMP_ACT_NOTIFY;
  return m == Mode::enforce ? SCMP_ACT_ERRNO(err) : SCMP_ACT_LOG;
}

Result<> add(scmp_filter_ctx ctx, uint32_t act, const char* name, std::vector<scmp_arg_cmp> args) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return {};  // not on this architecture
  int rc = seccomp_rule_add_array(ctx, act, nr, static_cast<unsigned>(args.size()), args.data());
  if (rc < 0) return fail(std::string("guard seccomp rule for ") + name, -rc);
  return {};
}

}  // namespace

bool mdwe_available() {
  return ::prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0;
}

GuardFilter::GuardFilter(GuardFilter&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)), notify_(o.notify_), mdwe_(o.mdwe_) {}

GuardFilter& GuardFilter::operator=(GuardFilter&& o) noexcept {
  if (this != &o) {
    if (ctx_) seccomp_release(static_cast<scmp_filter_ctx>(ctx_));
    ctx_ = std::exchange(o.ctx_, nullptr);
    notify_ = o.notify_;
    mdwe_ = o.mdwe_;
  }
  return *this;
}

GuardFilter::~GuardFilter() {
  if (ctx_) seccomp_release(static_cast<scmp_filter_ctx>(ctx_));
}

Result<GuardFilter> GuardFilter::build(const Spec& spec, const SeccompPlan& plan) {
  GuardFilter f;
  bool wx = spec.wx_memory != Mode::off;
  bool sens = spec.sensitive_syscalls != Mode::off && !spec.sensitive.empty();
  // Enforced W^X without the daemon: the kernel's own MDWE is precise and needs no filter.
  bool wx_by_mdwe = wx && !plan.notify && spec.wx_memory == Mode::enforce && plan.mdwe;
  f.mdwe_ = wx_by_mdwe;
  if (wx_by_mdwe) wx = false;
  if (!wx && !sens) return f;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return fail("guard seccomp: seccomp_init failed");
  f.ctx_ = ctx;
  f.notify_ = plan.notify;
  if (wx) {
    uint32_t a = action(spec.wx_memory, plan.notify, EACCES);
    const scmp_datum_t wxp = PROT_WRITE | PROT_EXEC;
    VEIL_CHECK(add(ctx, a, "mmap", {SCMP_A2(SCMP_CMP_MASKED_EQ, wxp, wxp)}));
    VEIL_CHECK(add(ctx, a, "mmap",
                   {SCMP_A2(SCMP_CMP_MASKED_EQ, wxp, PROT_EXEC),
                    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS)}));
    VEIL_CHECK(add(ctx, a, "mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)}));
    VEIL_CHECK(add(ctx, a, "pkey_mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)}));
  }
  if (sens) {
    uint32_t a = action(spec.sensitive_syscalls, plan.notify, EPERM);
    for (const auto& name : spec.sensitive) VEIL_CHECK(add(ctx, a, name.c_str(), {}));
  }
  return f;
}

Result<int> GuardFilter::load() {
  if (mdwe_ && ::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
    return fail_errno("guard: prctl(PR_SET_MDWE)");
  if (!ctx_) return -1;
  auto ctx = static_cast<scmp_filter_ctx>(ctx_);
  int rc = seccomp_load(ctx);
  if (rc < 0) return fail("guard: loading the seccomp filter", -rc);
  if (!notify_) return -1;
  int nfd = seccomp_notify_fd(ctx);
  if (nfd < 0) return fail("guard: no seccomp notify fd after loading the filter", -nfd);
  int fl = ::fcntl(nfd, F_GETFD);
  if (fl >= 0) ::fcntl(nfd, F_SETFD, fl | FD_CLOEXEC);
  return nfd;
}

}  // namespace veil::guard
