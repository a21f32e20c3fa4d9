// A ttrpc client: one connection, calls with a deadline each. Calls may come from several threads:
// each gets its own stream id and they share the connection (a reader hands each reply to its
// caller). A broken connection fails every call with Unavailable; a call past its deadline fails
// with DeadlineExceeded (and its late reply is dropped).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "ttrpc/server.hpp"
#include "ttrpc/wire.hpp"

namespace veil::ttrpc {

// "unix:///path", "/path", or "@name" / "unix://@name" (abstract); the path of a unix socket.
std::string socket_path(const std::string& address);

// Connects to address within timeout_ms (retrying while the socket does not exist yet or
// refuses).
Result<Fd> dial(const std::string& address, int timeout_ms);

class Client {
 public:
  explicit Client(Fd fd) : fd_(std::move(fd)) {}
  static Result<std::unique_ptr<Client>> connect(const std::string& address, int timeout_ms);

  // Calls service/method with the serialized request; the serialized response or a status.
  Reply call(const std::string& service, const std::string& method, const std::string& payload,
             int timeout_ms);

 private:
  // Reads from the socket until stream's reply arrives, the deadline passes or the peer goes.
  std::optional<Reply> pump(uint32_t stream, int64_t deadline_ms);

  Fd fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool reading_ = false;  // one caller reads at a time, for everyone
  bool broken_ = false;
  uint32_t next_stream_ = 1;
  Decoder dec_;
  std::map<uint32_t, Reply> replies_;
  std::map<uint32_t, bool> waiting_;
};

}  // namespace veil::ttrpc
