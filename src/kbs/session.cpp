#include "kbs/session.hpp"

#include "attest/crypto.hpp"

namespace veil::kbs {

std::optional<std::string> Sessions::create(Session s, int64_t now) {
  std::string id = crypto::b64url(crypto::random_bytes(24));
  std::lock_guard lock(mu_);
  if (map_.size() >= max_) purge(now);
  if (map_.size() >= max_) return std::nullopt;
  map_.emplace(id, std::move(s));
  return id;
}

bool Sessions::with(const std::string& id, int64_t now, const std::function<void(Session&)>& fn) {
  std::lock_guard lock(mu_);
  auto it = map_.find(id);
  if (it == map_.end()) return false;
  if (it->second.expires <= now) {
    map_.erase(it);
    return false;
  }
  fn(it->second);
  return true;
}

size_t Sessions::size() {
  std::lock_guard lock(mu_);
  return map_.size();
}

void Sessions::purge(int64_t now) {
  for (auto it = map_.begin(); it != map_.end();)
    it = it->second.expires <= now ? map_.erase(it) : std::next(it);
}

}  // namespace veil::kbs
