#include "agent/guard.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/bpf/loader.hpp"
#include "guard/daemon/containers.hpp"
#include "guard/daemon/event_format.hpp"

namespace veil::agent {

struct GuestGuard::Formatter {
  explicit Formatter(const guard::Instance& inst) : containers(inst) {}
  guard::Containers containers;
};

GuestGuard::GuestGuard() {
  inst_.run_dir = "/run/veil-guard";
  inst_.bpffs = "/sys/fs/bpf/veil";
}

GuestGuard::~GuestGuard() {
  if (rb_) ring_buffer__free(rb_);
}

Result<> GuestGuard::start(const nlohmann::json& policy) {
  if (!policy.is_object() || !policy.contains("spec"))
    return fail("guard: the create request has no compiled policy");
  spec_ = VEIL_TRY(guard::Spec::from_json(policy["spec"]));
  compiled_ = policy["spec"];
  VEIL_CHECK(mkdir_all(inst_.registry_dir(), 0700));
  auto loaded = VEIL_TRY(guard::load(inst_, false));
  if (!(loaded.mechs & VG_MECHS_LSM_EXEC))
    return fail("guard: BPF LSM did not attach in the guest (" + loaded.lsm_refusal + ")");
  mechs_ = loaded.mechs;
  fmt_ = std::make_unique<Formatter>(inst_);
  int fd = bpf_obj_get(inst_.pin("events").c_str());
  if (fd < 0) return fail_errno("guard: open the events ring buffer");
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<GuestGuard*>(ctx);
    if (size < sizeof(vg_event) || !self->emit_) return 0;
    auto e = guard::from_bpf(*static_cast<const vg_event*>(data), self->fmt_->containers);
    // The host's audit stream tells the guest's kernel apart.
    if (e.contains("mechanism") && e["mechanism"].is_string())
      e["mechanism"] = e["mechanism"].get<std::string>() + " (guest)";
    (*self->emit_)(std::move(e));
    return 0;
  };
  rb_ = ring_buffer__new(fd, cb, this, nullptr);
  ::close(fd);  // the ring buffer holds its own reference
  if (!rb_) return fail_errno("guard: ring_buffer__new");
  return {};
}

std::string GuestGuard::container_plan() const {
  if (compiled_.is_null()) return "";
  return nlohmann::json{{"spec", compiled_}, {"mechs", mechs_}}.dump();
}

Result<> GuestGuard::attach(const std::string& id, pid_t pid) {
  // The container's cgroup in the guest: "0::/path" in /proc/<pid>/cgroup (cgroup v2 only).
  auto text = VEIL_TRY(read_file(strprintf("/proc/%d/cgroup", pid)));
  std::string rel;
  for (const auto& line : split(text, '\n'))
    if (line.starts_with("0::")) rel = line.substr(3);
  if (rel.empty()) return fail("guard: the container has no cgroup v2 path");
  guard::ContainerInfo info;
  info.id = id;
  info.pid = pid;
  info.cgroup_id = VEIL_TRY(guard::cgroup_id("/sys/fs/cgroup" + rel));
  info.created_ns = guard::coarse_now_ns();
  VEIL_CHECK(guard::register_container(inst_, spec_, info));
  fmt_->containers.scan();
  return {};
}

int GuestGuard::fd() const {
  return rb_ ? ring_buffer__epoll_fd(rb_) : -1;
}

void GuestGuard::drain(const std::function<void(nlohmann::json)>& emit) {
  if (!rb_) return;
  auto e = emit;
  emit_ = &e;
  ring_buffer__consume(rb_);
  emit_ = nullptr;
}

}  // namespace veil::agent
