// `veil exec` and `veil update` of a microVM container talk to its monitor over a SOCK_SEQPACKET
// unix socket (base/packet: one JSON message per packet).
// - exec: the client sends {"process": OCI process} with its stdin, stdout and stderr attached;
//   the monitor relays the process's stdio to those fds and answers {"pid": N} (the exec child's
//   pid in the guest), then {"status": code} or {"signal": N}, or {"error": message}. The client
//   may send {"signal": N}.
// - update: {"update": linux.resources} → {"ok": true} or {"error": message}.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "vm/frame.hpp"

namespace veil::runtime::microvm {

Result<Fd> listen_exec(const std::string& path);

using SendFrame = std::function<void(vm::FrameType, std::string_view)>;

// The monitor's side of one exec.
class ExecClient {
 public:
  nlohmann::json process;  // an exec request
  nlohmann::json update;   // or an update request: linux.resources for the guest
  int stdin_fd() const { return in_.get(); }
  int sock_fd() const { return sock_.get(); }
  // A frame from the agent for this process; false when the process is over.
  bool on_frame(const vm::Frame& f);
  // The client's stdin is readable.
  bool on_stdin(uint32_t proc, const SendFrame& send);
  // The client wrote (a signal) or went away.
  bool on_client(uint32_t proc, const SendFrame& send);

 private:
  friend Result<ExecClient> accept_exec_client(int listener);
  void say(const nlohmann::json& j);
  Fd sock_, in_, out_, err_;
};

Result<ExecClient> accept_exec_client(int listener);

// `veil update` of a microVM container: the resources go to the guest's veil (through the
// monitor's socket), answered within 30 s.
Result<> update_in_vm(const std::string& vm_dir, const nlohmann::json& resources);

// The client: runs `process` in the microVM of the container whose VM directory is vm_dir,
// forwards signals and returns the exit status (128+N for signal N, also in *signal).
// on_started runs once the process runs, with its pid in the guest.
Result<int> exec_in_vm(const std::string& vm_dir, const nlohmann::json& process,
                       const std::function<void(int)>& on_started, int* signal);

}  // namespace veil::runtime::microvm
