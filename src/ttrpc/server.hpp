// A ttrpc server: methods registered by service and name, served on a listening unix socket.
// Each connection has a reader thread; each request runs on a thread of its own, so a slow call
// (containerd's Wait stays pending for a container's life) never holds back the others on the same
// connection, and replies go out in whatever order they finish (matched by stream id). An unknown
// method gets Unimplemented; a request whose deadline (timeout_nano) has passed before it runs
// gets DeadlineExceeded. A malformed message closes only its connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "ttrpc/wire.hpp"

namespace veil::ttrpc {

struct Context {
  int64_t deadline_ms = 0;  // CLOCK_MONOTONIC ms (base/time.hpp), 0: none
  std::vector<std::pair<std::string, std::string>> metadata;
};

// A method's answer: its response message, serialized, or a status.
using Reply = std::expected<std::string, Status>;
using Handler = std::function<Reply(const std::string& payload, const Context& ctx)>;

inline std::unexpected<Status> status(Code c, std::string message) {
  return std::unexpected(Status{c, std::move(message)});
}

class Server {
 public:
  Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { shutdown(); }

  void handle(const std::string& service, const std::string& method, Handler h);
  // Accepts and serves connections on listen_fd until shutdown(); then returns.
  Result<> serve(int listen_fd);
  // Stops accepting, closes every connection and waits (bounded) for running handlers.
  void shutdown();
  // Called (on a reader thread) when a connection closes; the shim uses it to notice that
  // containerd went away.
  void on_disconnect(std::function<void()> f) { on_disconnect_ = std::move(f); }

 private:
  struct Conn;
  void read_loop(std::shared_ptr<Conn> c);
  void run_request(std::shared_ptr<Conn> c, Message m);
  void thread_started();
  void thread_done();

  std::map<std::string, Handler> methods_;  // "service/method"
  std::mutex mu_;
  std::condition_variable idle_;
  std::set<std::shared_ptr<Conn>> conns_;
  int threads_ = 0;
  std::atomic<bool> stopping_{false};
  Fd wake_;  // eventfd: shutdown() wakes serve()
  std::function<void()> on_disconnect_;
};

}  // namespace veil::ttrpc
