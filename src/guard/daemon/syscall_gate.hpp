// Answers the guard's seccomp notifications (W^X and sensitive syscalls): reports each attempt
// and replies with an error (enforce) or lets the call continue (audit). The process waits in
// the kernel until answered; if the daemon goes away the kernel fails the call with ENOSYS.
#pragma once

#include <cstdint>

#include "guard/daemon/containers.hpp"
#include "guard/daemon/sink.hpp"

namespace veil::guard {

class SyscallGate {
 public:
  // Reads and answers one notification on fd. Returns false when the fd is dead (every process
  // using the filter exited) and should be dropped.
  bool handle(int fd, Container* c, Sink& sink);
  uint64_t answered() const { return answered_; }

 private:
  uint64_t answered_ = 0;
};

}  // namespace veil::guard
