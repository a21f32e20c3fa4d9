#include "guard/stream.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "base/fd.hpp"

namespace veil::guard {

Result<> follow_events(const Instance& inst, const std::string& id,
                       const std::function<bool(const std::string&)>& out) {
  std::string path = inst.events_socket();
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("events socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail_errno("the guard daemon is not running (" + path +
                      "): start it with `veil guard daemon`");
  std::string buf;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::recv(s.get(), chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read the guard's events socket");
    if (n == 0) return fail("the guard daemon closed the event stream");
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl + 1);
      buf.erase(0, nl + 1);
      if (!id.empty()) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("type", "") == "event" && j.value("container", "") != id)
          continue;
      }
      if (!out(line)) return {};
    }
  }
}

}  // namespace veil::guard
