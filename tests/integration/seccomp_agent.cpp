#include "seccomp_agent.hpp"

#include <linux/seccomp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace veil::test {

SeccompAgent::SeccompAgent(std::string socket_path, bool answer)
    : path_(std::move(socket_path)), answer_(answer) {
  ::unlink(path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 8) != 0)
    throw std::runtime_error("seccomp agent: cannot listen on " + path_);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { loop(); });
}

SeccompAgent::~SeccompAgent() {
  stop();
}

void SeccompAgent::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(stop_fd_);
  ::close(listen_fd_);
  ::unlink(path_.c_str());
}

std::set<int> SeccompAgent::syscalls() const {
  std::lock_guard l(mu_);
  return syscalls_;
}

std::vector<std::string> SeccompAgent::messages() const {
  std::lock_guard l(mu_);
  return messages_;
}

void SeccompAgent::loop() {
  std::vector<int> notify_fds;
  for (;;) {
    std::vector<pollfd> p{{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (int fd : notify_fds) p.push_back({fd, POLLIN, 0});
    if (::poll(p.data(), p.size(), 1000) < 0) continue;
    if (p[0].revents) break;
    if (p[1].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        char buf[8192];
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        iovec iov{buf, sizeof buf - 1};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
        if (n > 0) {
          std::string text(buf, static_cast<size_t>(n));
          // The rest of the state, if it came in more than one read.
          while ((n = ::recv(c, buf, sizeof buf, MSG_DONTWAIT)) > 0) text.append(buf, n);
          for (cmsghdr* h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
            if (h->cmsg_type == SCM_RIGHTS) {
              int fd;
              std::memcpy(&fd, CMSG_DATA(h), sizeof fd);
              notify_fds.push_back(fd);
            }
          std::lock_guard l(mu_);
          messages_.push_back(text);
        }
        ::close(c);
        ++connections_;
      }
    }
    for (size_t i = 2; i < p.size(); ++i) {
      if (!answer_ || !(p[i].revents & POLLIN)) continue;
      seccomp_notif req{};
      if (::ioctl(p[i].fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) continue;
      {
        std::lock_guard l(mu_);
        syscalls_.insert(req.data.nr);
      }
      seccomp_notif_resp resp{};
      resp.id = req.id;
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      (void)::ioctl(p[i].fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    // Filters whose processes are all gone: POLLHUP.
    for (size_t i = p.size(); i-- > 2;)
      if (p[i].revents & POLLHUP) {
        ::close(p[i].fd);
        notify_fds.erase(notify_fds.begin() + static_cast<long>(i - 2));
      }
  }
  for (int fd : notify_fds) ::close(fd);
}

}  // namespace veil::test
