#include "base/unix_address.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cstring>

namespace veil {

Result<sockaddr_un> unix_address(const std::string& path, Fd& dir) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string use = path;
  if (path.size() >= sizeof a.sun_path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return fail("socket name too long: " + path);
    std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    dir.reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return fail_errno("open the socket's directory " + parent);
    use = "/proc/self/fd/" + std::to_string(dir.get()) + path.substr(slash);
    if (use.size() >= sizeof a.sun_path) return fail("socket name too long: " + path);
  }
  std::memcpy(a.sun_path, use.c_str(), use.size() + 1);
  return a;
}

}  // namespace veil
