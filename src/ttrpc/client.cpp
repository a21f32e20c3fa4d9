#include "ttrpc/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "base/time.hpp"
#include "base/unix_address.hpp"
#include "ttrpc.pb.h"

namespace veil::ttrpc {

std::string socket_path(const std::string& address) {
  std::string a = address;
  if (a.starts_with("unix://")) a = a.substr(7);
  return a;
}

Result<Fd> dial(const std::string& address, int timeout_ms) {
  std::string path = socket_path(address);
  if (path.empty()) return fail("ttrpc: empty address");
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) return fail_errno("ttrpc: socket");
    sockaddr_un sa{};
    socklen_t len = sizeof sa;
    Fd dir;
    if (path[0] == '@') {  // abstract
      sa.sun_family = AF_UNIX;
      if (path.size() > sizeof sa.sun_path) return fail("ttrpc: address too long: " + address);
      std::memcpy(sa.sun_path + 1, path.data() + 1, path.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    } else {
      sa = VEIL_TRY(unix_address(path, dir));
    }
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0) return s;
    int e = errno;
    if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || monotonic_ms() >= deadline)
      return fail("ttrpc: connect to " + address, e);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<std::unique_ptr<Client>> Client::connect(const std::string& address, int timeout_ms) {
  auto fd = VEIL_TRY(dial(address, timeout_ms));
  return std::make_unique<Client>(std::move(fd));
}

std::optional<Reply> Client::pump(uint32_t stream, int64_t deadline_ms) {
  // Called with mu_ unlocked by the one reader.
  char buf[65536];
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (auto it = replies_.find(stream); it != replies_.end()) {
        Reply r = std::move(it->second);
        replies_.erase(it);
        return r;
      }
      if (broken_) return Reply(status(Code::unavailable, "ttrpc: the connection is closed"));
    }
    int left = static_cast<int>(deadline_ms - monotonic_ms());
    if (left <= 0) return std::nullopt;
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, std::min(left, 50));
    if (r < 0 && errno != EINTR) {
      std::lock_guard lock(mu_);
      broken_ = true;
      continue;
    }
    if (r <= 0) continue;
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    std::lock_guard lock(mu_);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      broken_ = true;
      cv_.notify_all();
      continue;
    }
    dec_.feed(buf, static_cast<size_t>(n));
    for (;;) {
      auto m = dec_.next();
      if (!m) {
        broken_ = true;
        break;
      }
      if (!*m) break;
      if ((*m)->type != MessageType::response || !waiting_.contains((*m)->stream)) continue;
      ::ttrpc::Response resp;
      Reply rep;
      if (!resp.ParseFromString((*m)->data))
        rep = status(Code::internal, "ttrpc: the reply is not a valid Response message");
      else if (resp.has_status() && resp.status().code() != 0)
        rep = status(static_cast<Code>(resp.status().code()), resp.status().message());
      else
        rep = resp.payload();
      replies_[(*m)->stream] = std::move(rep);
    }
    cv_.notify_all();
  }
}

Reply Client::call(const std::string& service, const std::string& method,
                   const std::string& payload, int timeout_ms) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  ::ttrpc::Request req;
  req.set_service(service);
  req.set_method(method);
  req.set_payload(payload);
  req.set_timeout_nano(static_cast<int64_t>(timeout_ms) * 1'000'000);
  uint32_t stream;
  {
    std::lock_guard lock(mu_);
    if (broken_) return status(Code::unavailable, "ttrpc: the connection is closed");
    stream = next_stream_;
    next_stream_ += 2;
    waiting_[stream] = true;
  }
  std::string bytes = encode(stream, MessageType::request, req.SerializeAsString());
  {
    std::lock_guard lock(mu_);
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        broken_ = true;
        waiting_.erase(stream);
        return status(Code::unavailable, "ttrpc: send to the server failed");
      }
      off += static_cast<size_t>(n);
    }
  }
  std::optional<Reply> got;
  for (;;) {
    std::unique_lock lock(mu_);
    if (auto it = replies_.find(stream); it != replies_.end()) {
      got = std::move(it->second);
      replies_.erase(it);
      break;
    }
    if (broken_) {
      got = status(Code::unavailable, "ttrpc: the connection is closed");
      break;
    }
    if (monotonic_ms() >= deadline) break;
    if (reading_) {  // another caller reads for us
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    reading_ = true;
    lock.unlock();
    got = pump(stream, deadline);
    lock.lock();
    reading_ = false;
    cv_.notify_all();
    break;
  }
  std::lock_guard lock(mu_);
  waiting_.erase(stream);
  replies_.erase(stream);
  if (!got)
    return status(Code::deadline_exceeded, "ttrpc: " + service + "/" + method +
                                               " got no reply within " +
                                               std::to_string(timeout_ms) + " ms");
  return std::move(*got);
}

}  // namespace veil::ttrpc
