#include "guard/control.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "base/fd.hpp"
#include "base/packet.hpp"

namespace veil::guard {

Result<nlohmann::json> control_call(const Instance& inst, const nlohmann::json& req, int fd,
                                    int timeout_ms) {
  std::string path = inst.control_socket();
  Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("guard control: socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("guard control: socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail_errno("guard daemon at " + path);
  VEIL_CHECK(send_packet(s.get(), req.dump(), fd));
  auto reply = recv_packet(s.get(), timeout_ms);
  if (!reply) {
    if (reply.error().err == ETIMEDOUT)
      return fail("guard daemon at " + path + ": no answer within " + std::to_string(timeout_ms) +
                  " ms");
    return std::unexpected(reply.error());
  }
  if (!*reply) return fail("guard daemon at " + path + " closed the connection");
  auto j = nlohmann::json::parse((*reply)->text, nullptr, false);
  if (!j.is_object()) return fail("guard daemon at " + path + ": malformed reply");
  if (!j.value("ok", false))
    return fail("guard daemon: " + j.value("error", std::string("request refused")));
  return j;
}

bool daemon_running(const Instance& inst) {
  return control_call(inst, {{"op", "ping"}}, -1, 1000).has_value();
}

}  // namespace veil::guard
