// The guard's own seccomp filter, stacked on top of the container's OCI profile (the kernel runs
// both; the strictest result wins): W^X memory (mmap/mprotect/pkey_mprotect asking for
// write+execute, or execute on anonymous memory) and sensitive syscalls (ptrace, bpf, module
// loading, kexec, userfaultfd, keyctl, ...).
//
// Action per rule: with the guard daemon reachable, SCMP_ACT_NOTIFY — the daemon reports each
// attempt and answers EPERM/EACCES (enforce) or lets it continue (audit); if the daemon dies the
// kernel answers ENOSYS, so the calls stay refused. Without the daemon: SCMP_ACT_ERRNO (enforce)
// or SCMP_ACT_LOG (audit), and for W^X in enforce mode the kernel's PR_SET_MDWE instead where it
// exists (precise: only exec *gained* by a mapping is refused). Those paths raise no event.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "guard/spec.hpp"

namespace veil::guard {

struct SeccompPlan {
  bool notify = false;  // the daemon takes the decisions
  bool mdwe = false;    // W^X by prctl(PR_SET_MDWE) instead of seccomp
};

class GuardFilter {
 public:
  GuardFilter() = default;
  GuardFilter(GuardFilter&& o) noexcept;
  GuardFilter& operator=(GuardFilter&& o) noexcept;
  GuardFilter(const GuardFilter&) = delete;
  GuardFilter& operator=(const GuardFilter&) = delete;
  ~GuardFilter();

  bool valid() const { return ctx_ != nullptr; }
  bool notify() const { return notify_; }
  bool mdwe() const { return mdwe_; }

  // Builds the filter for spec (nothing when neither rule is on). Unknown syscall names on this
  // architecture are skipped.
  static Result<GuardFilter> build(const Spec& spec, const SeccompPlan& plan);
  // Loads it into the calling thread (needs no_new_privs or CAP_SYS_ADMIN) and applies MDWE.
  // Returns the notify fd (O_CLOEXEC) or -1.
  Result<int> load();

 private:
  void* ctx_ = nullptr;
  bool notify_ = false;
  bool mdwe_ = false;
};

// True when this kernel has PR_SET_MDWE (Linux 6.3+).
bool mdwe_available();

}  // namespace veil::guard
