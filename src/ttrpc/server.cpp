#include "ttrpc/server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/time.hpp"
#include "ttrpc.pb.h"

namespace veil::ttrpc {

struct Server::Conn {
  Fd fd;
  std::mutex write_mu;
  // Writes one message whole (a reply must never interleave with another). Bounded: a peer that
  // stops reading loses the connection, not the server.
  bool send(const std::string& bytes) {
    std::lock_guard lock(write_mu);
    size_t off = 0;
    int64_t deadline = monotonic_ms() + 10'000;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        int left = static_cast<int>(deadline - monotonic_ms());
        pollfd p{fd.get(), POLLOUT, 0};
        if (left <= 0 || ::poll(&p, 1, left) <= 0) return false;
        continue;
      }
      return false;
    }
    return true;
  }
};

void Server::handle(const std::string& service, const std::string& method, Handler h) {
  methods_[service + "/" + method] = std::move(h);
}

void Server::thread_started() {
  std::lock_guard lock(mu_);
  ++threads_;
}

void Server::thread_done() {
  std::lock_guard lock(mu_);
  if (--threads_ == 0) idle_.notify_all();
}

Result<> Server::serve(int listen_fd) {
  {
    std::lock_guard lock(mu_);
    if (!wake_) wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) return fail_errno("ttrpc: eventfd");
  }
  while (!stopping_) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail_errno("ttrpc: poll");
    if (p[1].revents) break;
    if (!(p[0].revents & POLLIN)) {
      if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return fail("ttrpc: the listener failed");
      continue;
    }
    Fd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      return fail_errno("ttrpc: accept");
    }
    auto c = std::make_shared<Conn>();
    c->fd = std::move(fd);
    {
      std::lock_guard lock(mu_);
      conns_.insert(c);
      ++threads_;
    }
    std::thread([this, c] { read_loop(c); }).detach();
  }
  return {};
}

void Server::read_loop(std::shared_ptr<Conn> c) {
  Decoder dec;
  char buf[65536];
  while (!stopping_) {
    ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    dec.feed(buf, static_cast<size_t>(n));
    bool bad = false;
    for (;;) {
      auto m = dec.next();
      if (!m) {
        bad = true;  // cannot resynchronise: drop the connection
        break;
      }
      if (!*m) break;
      if ((*m)->type != MessageType::request) continue;  // only requests come from a client
      thread_started();
      std::thread([this, c, msg = std::move(**m)]() mutable {
        run_request(c, std::move(msg));
        thread_done();
      }).detach();
    }
    if (bad) break;
  }
  ::shutdown(c->fd.get(), SHUT_RDWR);
  {
    std::lock_guard lock(mu_);
    conns_.erase(c);
  }
  if (on_disconnect_ && !stopping_) on_disconnect_();
  thread_done();
}

void Server::run_request(std::shared_ptr<Conn> c, Message m) {
  ::ttrpc::Request req;
  ::ttrpc::Response resp;
  Reply reply;
  if (!req.ParseFromString(m.data)) {
    reply = status(Code::invalid_argument, "ttrpc: the request is not a valid Request message");
  } else {
    Context ctx;
    if (req.timeout_nano() > 0) ctx.deadline_ms = monotonic_ms() + req.timeout_nano() / 1'000'000;
    for (const auto& kv : req.metadata()) ctx.metadata.emplace_back(kv.key(), kv.value());
    auto it = methods_.find(req.service() + "/" + req.method());
    if (it == methods_.end())
      reply = status(Code::unimplemented,
                     "ttrpc: " + req.service() + "/" + req.method() + " is not implemented");
    else if (ctx.deadline_ms && monotonic_ms() >= ctx.deadline_ms)
      reply = status(Code::deadline_exceeded, "ttrpc: the deadline passed before the call ran");
    else
      reply = it->second(req.payload(), ctx);
  }
  if (reply) {
    resp.set_payload(std::move(*reply));
    resp.mutable_status()->set_code(0);
  } else {
    resp.mutable_status()->set_code(static_cast<int>(reply.error().code));
    resp.mutable_status()->set_message(reply.error().message);
  }
  (void)c->send(encode(m.stream, MessageType::response, resp.SerializeAsString()));
}

void Server::shutdown() {
  stopping_ = true;
  std::unique_lock lock(mu_);
  if (wake_) {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }
  for (auto& c : conns_) ::shutdown(c->fd.get(), SHUT_RDWR);
  // Handlers blocked for good (a Wait on a container that never exits) are not waited for long.
  idle_.wait_for(lock, std::chrono::seconds(2), [&] { return threads_ == 0; });
}

}  // namespace veil::ttrpc
