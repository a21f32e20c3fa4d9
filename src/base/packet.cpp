#include "base/packet.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace veil {

[[gnu::cold]] Result<> send_packet(int sock, std::string_view text,
                                   std::initializer_list<int> fds) {
  if (text.size() > kMaxPacket) return fail("packet too large");
  if (fds.size() > kMaxPacketFds) return fail("packet: too many file descriptors");
  struct iovec iov {
    const_cast<char*>(text.data()), text.size()
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPacketFds)] = {};
  if (fds.size() > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.begin(), sizeof(int) * fds.size());
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return {};
    if (errno != EINTR) return fail_errno("send packet");
  }
}

[[gnu::cold]] Result<> send_packet(int sock, std::string_view text, int fd) {
  if (fd < 0) return send_packet(sock, text, std::initializer_list<int>{});
  return send_packet(sock, text, {fd});
}

[[gnu::cold]] Result<std::optional<Packet>> recv_packet(int sock, int timeout_ms) {
  struct pollfd p {
    sock, POLLIN, 0
  };
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) break;
    if (r == 0) return fail("no answer", ETIMEDOUT);
    if (errno != EINTR) return fail_errno("poll");
  }
  std::vector<char> buf(kMaxPacket + 1);
  struct iovec iov {
    buf.data(), buf.size()
  };
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPacketFds)] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno("receive packet");
  Packet pk;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (!pk.fd)
          pk.fd.reset(fd);
        else
          pk.more.emplace_back(fd);
      }
    }
  }
  if (n == 0 && !pk.fd) return std::optional<Packet>{};
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return fail("packet truncated");
  pk.text.assign(buf.data(), static_cast<size_t>(n));
  return std::optional<Packet>{std::move(pk)};
}

}  // namespace veil
