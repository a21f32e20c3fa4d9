// A QMP client (QEMU's JSON control protocol) over a connected socket: the greeting, commands
// with a deadline, and passing a file descriptor (getfd) for migration.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::vm {

class Qmp {
 public:
  explicit Qmp(Fd sock) : sock_(std::move(sock)) {}
  int fd() const { return sock_.get(); }
  // Reads the greeting and enters command mode.
  Result<> handshake(int timeout_ms);
  // Runs a command; its "return" value, or an error carrying QEMU's description.
  Result<nlohmann::json> execute(const std::string& command,
                                 const nlohmann::json& arguments = nullptr,
                                 int timeout_ms = 10'000);
  // Hands fd to QEMU under `name` (QMP getfd, the fd as SCM_RIGHTS).
  Result<> send_fd(const std::string& name, int fd, int timeout_ms = 10'000);
  // Runs a command with fd attached (SCM_RIGHTS), e.g. add-fd; its "return" value.
  Result<nlohmann::json> execute_with_fd(const std::string& command,
                                         const nlohmann::json& arguments, int fd,
                                         int timeout_ms = 10'000);
  // Polls query-migrate until it completes (or fails), within timeout_ms.
  Result<> wait_migration(int timeout_ms);

 private:
  Result<nlohmann::json> read_message(int timeout_ms);
  Result<nlohmann::json> reply(const std::string& command, int timeout_ms);

  Fd sock_;
  std::string buf_;
};

}  // namespace veil::vm
