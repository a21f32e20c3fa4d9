#include "vm/qmp.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "base/packet.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "vm/frame.hpp"

namespace veil::vm {

using nlohmann::json;

Result<json> Qmp::read_message(int timeout_ms) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded()) return fail("QMP: unparsable message: " + line);
      return j;
    }
    int left = static_cast<int>(deadline - monotonic_ms());
    if (left <= 0) return fail(strprintf("QMP: no answer within %d ms", timeout_ms));
    struct pollfd p {
      sock_.get(), POLLIN, 0
    };
    int r = ::poll(&p, 1, left);
    if (r < 0 && errno != EINTR) return fail_errno("QMP: poll");
    if (r <= 0) continue;
    char b[8192];
    ssize_t n = ::read(sock_.get(), b, sizeof b);
    if (n == 0) return fail("QMP: QEMU closed the monitor (it exited)");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail_errno("QMP: read");
    }
    buf_.append(b, static_cast<size_t>(n));
  }
}

Result<json> Qmp::reply(const std::string& command, int timeout_ms) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    int left = static_cast<int>(deadline - monotonic_ms());
    auto m = VEIL_TRY(read_message(left > 0 ? left : 0));
    if (m.contains("event")) continue;  // asynchronous events are not answers
    if (m.contains("error")) {
      std::string desc = m["error"].value("desc", m["error"].dump());
      return fail("QMP " + command + ": " + desc);
    }
    if (m.contains("return")) return m["return"];
  }
}

Result<> Qmp::handshake(int timeout_ms) {
  auto greeting = VEIL_TRY(read_message(timeout_ms));
  if (!greeting.contains("QMP")) return fail("QMP: no greeting from QEMU");
  VEIL_CHECK(execute("qmp_capabilities", nullptr, timeout_ms));
  return {};
}

Result<json> Qmp::execute(const std::string& command, const json& arguments, int timeout_ms) {
  json req{{"execute", command}};
  if (!arguments.is_null()) req["arguments"] = arguments;
  VEIL_CHECK(write_all(sock_.get(), req.dump() + "\n", timeout_ms));
  return reply(command, timeout_ms);
}

Result<> Qmp::send_fd(const std::string& name, int fd, int timeout_ms) {
  // QMP reads the fd that arrives with the command's bytes (SCM_RIGHTS on the stream socket).
  std::string req = json{{"execute", "getfd"}, {"arguments", {{"fdname", name}}}}.dump() + "\n";
  VEIL_CHECK(send_packet(sock_.get(), req, fd));
  VEIL_CHECK(reply("getfd", timeout_ms));
  return {};
}

Result<json> Qmp::execute_with_fd(const std::string& command, const json& arguments, int fd,
                                  int timeout_ms) {
  std::string req = json{{"execute", command}, {"arguments", arguments}}.dump() + "\n";
  VEIL_CHECK(send_packet(sock_.get(), req, fd));
  return reply(command, timeout_ms);
}

Result<> Qmp::wait_migration(int timeout_ms) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    auto st = VEIL_TRY(execute("query-migrate", nullptr, timeout_ms));
    std::string status = st.value("status", "");
    if (status == "completed") return {};
    if (status == "failed" || status == "cancelled")
      return fail("migration " + status + ": " + st.value("error-desc", "no reason given"));
    if (monotonic_ms() > deadline)
      return fail(strprintf("migration not completed within %d ms (status %s)", timeout_ms,
                            status.c_str()));
    ::usleep(5'000);
  }
}

}  // namespace veil::vm
