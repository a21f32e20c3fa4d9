// The parent ↔ container-init channel: a SOCK_SEQPACKET socketpair carrying small typed messages
// (a message is one packet, so no framing is needed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::runtime {

enum class MsgType : uint32_t {
  go = 1,              // parent → stage1: placed in the cgroup, carry on
  id_maps,             // stage1 → parent: please write my uid/gid maps
  id_maps_done,        // parent → stage1
  child_pid,           // stage1 → parent: the container process's pid (value)
  ready,               // stage2 → parent: set up, waiting for `start`
  error,               // child → parent: text says what failed
  hooks,               // stage2 → parent: mounts done; run prestart/createRuntime hooks
  hooks_done,          // parent → stage2: text = state JSON for createContainer/startContainer
  seccomp_fd,          // stage2 → parent: value = the seccomp notify fd number in stage2
  seccomp_done,        // parent → stage2: the fd reached the listener
  console,             // stage2 → parent: the pty master (fd attached)
  guard_fd,            // stage2/exec → parent: value = the guard's seccomp notify fd number
  guard_done,          // parent → stage2/exec: the fd reached the guard daemon
  mount_sources,       // stage2 → parent: open my bind sources (user namespace)
  mount_source_fd,     // parent → stage2: value = index in spec.mounts, fd attached
  mount_sources_done,  // parent → stage2
};

struct Msg {
  MsgType type{};
  int64_t value = 0;
  std::string text;
  Fd fd;  // a file descriptor that came with the message (SCM_RIGHTS), if any
};

// The bound on each wait for a container process during create/exec (VEIL_SETUP_TIMEOUT, in
// seconds, default 60): a process that stops (SIGSTOP, a frozen cgroup, a stuck mount) becomes an
// error naming the step instead of a hang.
int setup_timeout_ms();

class SyncChannel {
 public:
  static Result<std::pair<SyncChannel, SyncChannel>> make_pair(int min_fd);
  explicit SyncChannel(Fd fd) : fd_(std::move(fd)) {}
  SyncChannel() = default;

  Result<> send(MsgType t, int64_t value = 0, const std::string& text = "") const;
  // Sends a message with one fd attached (SCM_RIGHTS).
  Result<> send_fd(MsgType t, int fd, int64_t value = 0) const;
  // The same with write(2): for a process under a seccomp profile that may filter send(2).
  Result<> write_msg(MsgType t, int64_t value = 0, const std::string& text = "") const;
  // nullopt on EOF (the peer closed or died).
  Result<std::optional<Msg>> recv() const;
  // recv() that gives up after timeout_ms with an error naming `step` (ETIMEDOUT). EOF is how a
  // child's death shows: every process that holds the other end is gone.
  Result<std::optional<Msg>> recv_within(int timeout_ms, const std::string& step) const;
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  Fd fd_;
};

}  // namespace veil::runtime
