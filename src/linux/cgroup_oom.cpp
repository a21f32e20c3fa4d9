#include "linux/cgroup_oom.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/file.hpp"
#include "linux/cgroup_stats.hpp"

namespace veil::cgroups {
namespace {

// v2: OOM kills so far; memory.events has "oom_kill" since Linux 4.13, "oom" before.
uint64_t oom_count(const std::string& dir) {
  auto ev = parse_flat_keyed(read_file(dir + "/memory.events").value_or(""));
  auto it = ev.find("oom_kill");
  if (it == ev.end()) it = ev.find("oom");
  return it == ev.end() ? 0 : it->second;
}

}  // namespace

Result<OomWatch> OomWatch::open(const std::vector<std::string>& dirs) {
  OomWatch w;
  for (const auto& d : dirs) {
    if (!path_exists(d + "/memory.oom_control")) continue;
    w.dir_ = d;
    w.oom_control_ = Fd(::open((d + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC));
    if (!w.oom_control_) return fail_errno("open " + d + "/memory.oom_control");
    w.fd_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!w.fd_) return fail_errno("eventfd");
    std::string reg = std::to_string(w.fd_.get()) + " " + std::to_string(w.oom_control_.get());
    if (auto r = write_file(d + "/cgroup.event_control", reg); !r)
      return std::unexpected(r.error().wrap("register for OOM notifications"));
    return w;
  }
  for (const auto& d : dirs) {
    if (!path_exists(d + "/memory.events")) continue;
    w.dir_ = d;
    w.v2_ = true;
    w.fd_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!w.fd_) return fail_errno("inotify_init1");
    if (::inotify_add_watch(w.fd_.get(), (d + "/memory.events").c_str(), IN_MODIFY) < 0)
      return fail_errno("watch " + d + "/memory.events");
    w.kills_ = oom_count(d);
    return w;
  }
  return fail("no memory cgroup controller for this container: OOM events cannot be reported");
}

uint64_t OomWatch::drain() {
  if (!v2_) {
    uint64_t n = 0;
    if (::read(fd_.get(), &n, sizeof n) != sizeof n) return 0;
    // The kernel also signals the eventfd when the cgroup is removed: that is not an OOM. One
    // read may cover several notifications of one OOM situation: one event, as runc reports.
    if (!path_exists(dir_ + "/memory.oom_control")) return 0;
    return n > 0 ? 1 : 0;
  }
  char buf[4096];
  while (::read(fd_.get(), buf, sizeof buf) > 0) {
  }
  uint64_t now = oom_count(dir_);
  uint64_t n = now > kills_ ? now - kills_ : 0;
  kills_ = now;
  return n;
}

}  // namespace veil::cgroups
