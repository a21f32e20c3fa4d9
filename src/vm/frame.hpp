// The control channel between a microVM's monitor (host) and its agent (guest), over one
// virtio-serial port: a stream of frames, each
//   u32 big-endian length of what follows | u8 type | u32 big-endian process id | payload
// Process 0 is the container's process; exec'd processes get ids from the monitor. In a pod
// (create with "pod": true) each container's init has the id its create frame carried. Control
// payloads are JSON objects; stdio payloads are raw bytes. docs/microvm.md has the dialogue.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::vm {

inline constexpr int kProtocolVersion = 1;
inline constexpr uint32_t kMaxFrame = 1u << 20;  // payload bound: a bigger length is an error
inline constexpr const char* kAgentPortName = "org.veil.agent";

enum class FrameType : uint8_t {
  ready = 1,      // agent → host, once after boot: {"version", "kernel"}
  hello = 2,      // host → agent: {"version", "token", "realtime_ns", "seed"}
  hello_ack = 3,  // agent → host: {"version", "token", "kernel"}
  create = 4,     // host → agent: {"id", "config"} (process 0)
  created = 5,    // agent → host: {"pid"} (pid inside the guest)
  start = 6,      // host → agent (process 0)
  exec = 7,       // host → agent: {"process"} (an OCI process object)
  started = 8,    // agent → host: {"pid"} (exec'd process running)
  stdin_data = 9,
  stdin_close = 10,
  stdout_data = 11,
  stderr_data = 12,
  signal = 13,   // host → agent: {"signal"}
  exit = 14,     // agent → host: {"status"} or {"signal"} (+ "oom"); the last frame of a process
  error = 15,    // either way: {"message"}
  update = 16,   // host → agent: {"resources"} (linux.resources for the container, in the guest)
  updated = 17,  // agent → host: {}
  resize = 18,   // host → agent: {"rows", "cols"} (the container's terminal)
  event = 19,    // agent → host: a guard audit event (JSON, as the guard daemon writes them)
  // A pod (the shim v2): one guest, several containers, each addressed by the process id of its
  // init. These ask about the container whose init is the frame's process; the agent answers
  // with `reply` (or `error`).
  stats = 20,   // host → agent: {} → reply {"stats": runc's stats object}
  pause = 21,   // host → agent: {} → reply {}
  resume = 22,  // host → agent: {} → reply {}
  pids = 23,    // host → agent: {} → reply {"pids": [guest pids]}
  reply = 24,   // agent → host
};
const char* frame_type_name(FrameType t);

struct Frame {
  FrameType type{};
  uint32_t proc = 0;
  std::string payload;
};

std::string encode_frame(FrameType type, uint32_t proc, std::string_view payload);

// Reassembles frames from a byte stream.
class FrameReader {
 public:
  void feed(const char* data, size_t n) { buf_.append(data, n); }
  // The next whole frame, nullopt when more bytes are needed, an error on a bad length or type.
  Result<std::optional<Frame>> next();

 private:
  std::string buf_;
};

// Writes all of data to a (possibly non-blocking) fd, waiting up to timeout_ms in total.
Result<> write_all(int fd, std::string_view data, int timeout_ms);

// Reads frames from fd until one of type `want` (for process proc) arrives, within timeout_ms;
// an error frame becomes an Error carrying its message; EOF is an error naming `what`.
// Frames of other types go to *others (when given) or are dropped.
Result<Frame> wait_frame(int fd, FrameReader& reader, FrameType want, uint32_t proc, int timeout_ms,
                         const std::string& what, std::deque<Frame>* others = nullptr);

}  // namespace veil::vm
