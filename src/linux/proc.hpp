// Facts about processes read from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace veil::linux_proc {

struct ProcStat {
  char state = '?';         // R, S, D, Z, X, T, …
  uint64_t start_time = 0;  // field 22, clock ticks since boot
};

// Reads /proc/<pid>/stat; nullopt when the process does not exist.
std::optional<ProcStat> read_stat(pid_t pid);

// True when pid exists, is not a zombie, and (when start_time != 0) started at start_time
// (so a recycled pid is not mistaken for the container's process).
bool alive(pid_t pid, uint64_t start_time);

// The children of the calling thread (/proc/thread-self/task/…/children; empty when unknown).
std::vector<pid_t> children_of_self();

}  // namespace veil::linux_proc
