#include "runtime/sync.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "base/packet.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"

namespace veil::runtime {

namespace {
constexpr size_t kHeader = sizeof(uint32_t) + sizeof(int64_t);
constexpr size_t kMax = 8192;
}  // namespace

Result<std::pair<SyncChannel, SyncChannel>> SyncChannel::make_pair(int min_fd) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return fail_errno("socketpair");
  // Keep our fds above the range of fds the container inherits (--preserve-fds).
  int a = ::fcntl(sv[0], F_DUPFD_CLOEXEC, min_fd);
  int b = ::fcntl(sv[1], F_DUPFD_CLOEXEC, min_fd);
  ::close(sv[0]);
  ::close(sv[1]);
  if (a < 0 || b < 0) {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
    return fail_errno("dup sync socket");
  }
  return std::pair{SyncChannel(Fd(a)), SyncChannel(Fd(b))};
}

static size_t pack(char* buf, MsgType t, int64_t value, const std::string& text) {
  uint32_t type = static_cast<uint32_t>(t);
  std::memcpy(buf, &type, sizeof type);
  std::memcpy(buf + sizeof type, &value, sizeof value);
  size_t n = std::min(text.size(), kMax - kHeader);
  std::memcpy(buf + kHeader, text.data(), n);
  return kHeader + n;
}

Result<> SyncChannel::write_msg(MsgType t, int64_t value, const std::string& text) const {
  char buf[kMax];
  size_t n = pack(buf, t, value, text);
  for (;;) {
    ssize_t w = ::write(fd_.get(), buf, n);
    if (w >= 0) return {};
    if (errno != EINTR) return fail_errno("sync write");
  }
}

Result<> SyncChannel::send(MsgType t, int64_t value, const std::string& text) const {
  char buf[kMax];
  uint32_t type = static_cast<uint32_t>(t);
  std::memcpy(buf, &type, sizeof type);
  std::memcpy(buf + sizeof type, &value, sizeof value);
  size_t n = std::min(text.size(), kMax - kHeader);
  std::memcpy(buf + kHeader, text.data(), n);
  for (;;) {
    ssize_t w = ::send(fd_.get(), buf, kHeader + n, MSG_NOSIGNAL);
    if (w >= 0) return {};
    if (errno != EINTR) return fail_errno("sync send");
  }
}

Result<> SyncChannel::send_fd(MsgType t, int fd, int64_t value) const {
  char buf[kMax];
  size_t n = pack(buf, t, value, "");
  if (auto r = send_packet(fd_.get(), std::string_view(buf, n), fd); !r)
    return std::unexpected(r.error().wrap("sync"));
  return {};
}

int setup_timeout_ms() {
  if (const char* v = ::getenv("VEIL_SETUP_TIMEOUT")) {
    double s = std::strtod(v, nullptr);
    if (s > 0 && s < 86400) return static_cast<int>(s * 1000);
  }
  return 60'000;
}

Result<std::optional<Msg>> SyncChannel::recv_within(int timeout_ms, const std::string& step) const {
  struct pollfd p {
    fd_.get(), POLLIN, 0
  };
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left < 0) left = 0;
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return recv();
    if (n < 0 && errno != EINTR) return fail_errno("sync poll");
    if (n == 0)
      return fail(strprintf("timed out after %.1f s waiting for the container process (%s)",
                            timeout_ms / 1000.0, step.c_str()),
                  ETIMEDOUT);
  }
}

Result<std::optional<Msg>> SyncChannel::recv() const {
  char buf[kMax];
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov {
    buf, sizeof buf
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    // recvmsg: messages may carry an fd. (Children under a seccomp profile only ever receive
    // plain messages, and profiles that allow read(2) allow recvmsg in practice.)
    n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  // A peer that died with our message unread resets the connection: that is EOF too.
  if (n < 0 && errno == ECONNRESET) return std::optional<Msg>{};
  if (n < 0) return fail_errno("sync recv");
  if (n == 0) return std::optional<Msg>{};
  if (static_cast<size_t>(n) < kHeader) return fail("sync: short message");
  Msg m;
  uint32_t type;
  std::memcpy(&type, buf, sizeof type);
  std::memcpy(&m.value, buf + sizeof type, sizeof m.value);
  m.type = static_cast<MsgType>(type);
  m.text.assign(buf + kHeader, static_cast<size_t>(n) - kHeader);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      m.fd.reset(fd);
    }
  }
  return std::optional<Msg>{std::move(m)};
}

}  // namespace veil::runtime
