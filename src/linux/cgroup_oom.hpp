// OOM notifications for a container's memory cgroup: cgroup v1's memory.oom_control with an
// eventfd registered in cgroup.event_control, or cgroup v2's memory.events watched with inotify
// (its oom_kill counter). Either way fd() becomes readable and drain() says how many OOM events
// happened since the last call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::cgroups {

class OomWatch {
 public:
  // Watches the memory controller among the container's cgroup directories; fails when there
  // is none (the message says so).
  static Result<OomWatch> open(const std::vector<std::string>& dirs);

  int fd() const { return fd_.get(); }
  // Consumes what made fd() readable; returns the number of new OOM events (0 if none).
  uint64_t drain();
  bool v2() const { return v2_; }

 private:
  Fd fd_;
  Fd oom_control_;  // v1: must stay open while the eventfd is registered
  std::string dir_;
  bool v2_ = false;
  uint64_t kills_ = 0;  // v2: oom_kill (or oom) count seen so far
};

}  // namespace veil::cgroups
