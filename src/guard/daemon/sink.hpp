// Where audit events go: a JSON-lines file under the run directory with size-based rotation, and
// every client connected to the events socket (collectors, `veil events --follow`). Nothing is
// dropped silently: a slow client or a failed write is counted, and the loss is reported in the
// stream itself as {"type":"loss",...} as soon as it can be.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::guard {

class AuditLog {
 public:
  AuditLog(std::string path, uint64_t max_bytes, int max_files)
      : path_(std::move(path)), max_bytes_(max_bytes), max_files_(max_files) {}
  Result<> open();
  // Appends one line (with '\n'); rotates first when it would grow past max_bytes.
  Result<> write(const std::string& line);
  uint64_t rotations() const { return rotations_; }

 private:
  Result<> rotate();
  std::string path_;
  uint64_t max_bytes_;
  int max_files_;
  Fd fd_;
  uint64_t size_ = 0;
  uint64_t rotations_ = 0;
};

class Subscribers {
 public:
  static constexpr size_t kMaxPending = 4 << 20;  // per client, then events are dropped
  void add(Fd client);
  // Queues the line for every client and writes what the sockets take now.
  void publish(const std::string& line);
  // Retries pending writes (called when a client socket is writable) — here: on every tick.
  void flush();
  size_t count() const { return clients_.size(); }
  uint64_t dropped() const { return dropped_total_; }

 private:
  struct Client {
    Fd fd;
    std::string pending;
    uint64_t dropped = 0;  // since the last loss record sent to this client
  };
  bool write_some(Client& c);
  std::map<int, Client> clients_;
  uint64_t dropped_total_ = 0;
};

class Sink {
 public:
  Sink(AuditLog log) : log_(std::move(log)) {}
  Result<> open() { return log_.open(); }
  // One event or loss record.
  void emit(const nlohmann::json& record);
  Subscribers& subscribers() { return subs_; }
  uint64_t emitted() const { return emitted_; }
  uint64_t log_errors() const { return log_errors_; }
  uint64_t rotations() const { return log_.rotations(); }

 private:
  AuditLog log_;
  Subscribers subs_;
  uint64_t emitted_ = 0;
  uint64_t log_errors_ = 0;
};

}  // namespace veil::guard
