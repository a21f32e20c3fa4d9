#include "guard/control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "base/fd.hpp"

namespace veil::guard {

Result<> send_packet(int sock, const std::string& text, int fd) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof(ctl);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
    if (errno == EINTR) continue;
    return fail_errno("guard control: send");
  }
  return {};
}

Result<bool> recv_packet(int sock, std::string* text, int* fd) {
  *fd = -1;
  text->assign(65536, '\0');
  iovec iov{text->data(), text->size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno == EINTR) continue;
    return fail_errno("guard control: receive");
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(fd, CMSG_DATA(c), sizeof(int));
  if (n == 0) return false;
  text->resize(static_cast<size_t>(n));
  return true;
}

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
  pollfd p{s.get(), POLLIN, 0};
  int r;
  while ((r = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  if (r == 0)
    return fail("guard daemon at " + path + ": no answer within " + std::to_string(timeout_ms) +
                " ms");
  std::string text;
  int rfd = -1;
  bool got = VEIL_TRY(recv_packet(s.get(), &text, &rfd));
  if (rfd >= 0) ::close(rfd);
  if (!got) return fail("guard daemon at " + path + " closed the connection");
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return fail("guard daemon at " + path + ": malformed reply");
  if (!j.value("ok", false))
    return fail("guard daemon: " + j.value("error", std::string("request refused")));
  return j;
}

bool daemon_running(const Instance& inst) {
  return control_call(inst, {{"op", "ping"}}, -1, 1000).has_value();
}

}  // namespace veil::guard
