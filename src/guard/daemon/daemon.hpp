// `veil guard daemon`: turns the kernel's decisions into the audit stream and takes the decisions
// that need user space (fanotify exec permission events, seccomp notifications). Single-threaded
// epoll loop over: the BPF ring buffer, the fanotify group, every container's seccomp notify fd,
// the control socket (runtime registrations), the events socket (collectors), a 1 s tick (ring
// buffer loss counters, flushing slow clients, forgetting dead containers) and SIGTERM/SIGINT.
#pragma once

#include <cstdint>

#include "base/error.hpp"
#include "guard/instance.hpp"

namespace veil::guard {

struct DaemonOptions {
  uint64_t max_log_bytes = 16ULL << 20;
  int max_log_files = 4;
};

// Runs until SIGTERM/SIGINT. Fails when another daemon serves this run directory.
Result<> run_daemon(const Instance& inst, const DaemonOptions& opts);

}  // namespace veil::guard
