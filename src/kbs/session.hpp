// RCAR sessions, in memory: created by /auth with a fresh nonce, consumed by exactly one /attest.
// A session that failed attestation is dead: its nonce can never be answered again.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "attest/attest.hpp"

namespace veil::kbs {

struct Session {
  enum class State { challenged, attested, failed } state = State::challenged;
  std::string tee, nonce;
  int64_t expires = 0;
  attest::Claims claims;
  attest::json tee_pubkey;
};

class Sessions {
 public:
  explicit Sessions(size_t max = 100000) : max_(max) {}
  // Returns the new session id, or nullopt when the table is full of live sessions.
  std::optional<std::string> create(Session s, int64_t now);
  // Runs fn on the live session with this id under the lock; false if none (or expired).
  bool with(const std::string& id, int64_t now, const std::function<void(Session&)>& fn);
  size_t size();

 private:
  void purge(int64_t now);
  std::mutex mu_;
  std::unordered_map<std::string, Session> map_;
  size_t max_;
};

}  // namespace veil::kbs
