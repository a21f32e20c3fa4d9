#include "runtime/events.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "base/log.hpp"
#include "linux/cgroup_oom.hpp"
#include "linux/cgroup_stats.hpp"
#include "linux/proc.hpp"

namespace veil::runtime {
namespace {

using oj = nlohmann::ordered_json;

std::string event_line(const char* type, const std::string& id, const oj* data) {
  oj e = {{"type", type}, {"id", id}};
  if (data) e["data"] = *data;
  return e.dump() + "\n";
}

Result<std::string> stats_line(const State& st) {
  auto data = cgroups::collect_stats(st.cgroup_dirs);
  if (!data) return std::unexpected(data.error());
  return event_line("stats", st.id, &*data);
}

}  // namespace

Result<> events(const Globals& g, const std::string& id, const EventsOptions& opts,
                const EventSink& sink) {
  if (opts.interval_ns <= 0) return fail("the interval must be greater than 0");
  State st;
  {
    // Only to read the state: a long-running `events` must not hold the container's lock.
    StateStore store(g.root);
    auto dir = VEIL_TRY(store.open(id, false));
    st = VEIL_TRY(dir.load());
    Status s = current_status(st, dir);
    if (s == Status::stopped) return fail("container \"" + id + "\" is not running");
  }
  if (opts.stats_only) {
    auto line = stats_line(st);
    if (!line) return std::unexpected(line.error().wrap("stats of container \"" + id + "\""));
    sink(*line);
    return {};
  }

  // Readable when the container's process exits (it is not our child). Opened before the
  // liveness check so that a recycled pid cannot be watched by mistake.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, st.pid, 0)));
  if (!linux_proc::alive(st.pid, st.pid_start_time)) return {};
  std::optional<cgroups::OomWatch> oom;
  if (auto w = cgroups::OomWatch::open(st.cgroup_dirs))
    oom = std::move(*w);
  else
    log::debug("events: " + w.error().str());
  Fd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer) return fail_errno("timerfd_create");
  struct itimerspec its {};
  its.it_value.tv_sec = opts.interval_ns / 1'000'000'000;
  its.it_value.tv_nsec = opts.interval_ns % 1'000'000'000;
  its.it_interval = its.it_value;
  if (::timerfd_settime(timer.get(), 0, &its, nullptr) != 0) return fail_errno("timerfd_settime");

  auto report_oom = [&]() -> bool {
    if (!oom) return true;
    for (uint64_t n = oom->drain(); n > 0; --n)
      if (!sink(event_line("oom", id, nullptr))) return false;
    return true;
  };
  for (;;) {
    struct pollfd p[3] = {
        {timer.get(), POLLIN, 0}, {oom ? oom->fd() : -1, POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    // Without pidfds (old kernels) the process is checked twice a second.
    int r = ::poll(p, 3, pidfd ? -1 : 500);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail_errno("poll");
    }
    if (p[1].revents & POLLIN && !report_oom()) return {};
    bool gone = pidfd ? (p[2].revents & (POLLIN | POLLHUP)) != 0
                      : !linux_proc::alive(st.pid, st.pid_start_time);
    if (gone) {
      report_oom();  // an OOM kill of the last process is reported before the exit
      return {};
    }
    if (p[0].revents & POLLIN) {
      uint64_t expirations;
      (void)!::read(timer.get(), &expirations, sizeof expirations);
      auto line = stats_line(st);
      if (!line) {
        if (!linux_proc::alive(st.pid, st.pid_start_time)) return {};
        log::error("events: " + line.error().str());  // as runc: log and keep going
        continue;
      }
      if (!sink(*line)) return {};
    }
  }
}

}  // namespace veil::runtime
