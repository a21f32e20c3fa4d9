// Results of expensive checks kept for reuse: a quote's PCK chain (2 ECDSA verifications, PEM and
// X.509 parsing, ~60 % of a quote's verification) and a collateral directory's signed files. An
// entry is keyed by SHA-256 of exactly the bytes that were checked, so changed bytes are checked
// afresh, and it records the time window in which the check holds (certificate validity, the
// collateral's issueDate..nextUpdate): outside it the caller checks again and gets the real
// error. Bounded (cleared when full); safe to share between the server's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace veil::attest::dcap {

template <class V>
class CheckedCache {
 public:
  explicit CheckedCache(size_t max_entries) : max_(max_entries) {}

  // The value checked for `key` if its window holds `at` (Unix seconds).
  std::shared_ptr<const V> get(const std::string& key, int64_t at) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end() || at < it->second.from || at > it->second.until) return nullptr;
    return it->second.value;
  }
  void put(const std::string& key, int64_t from, int64_t until, std::shared_ptr<const V> value) {
    std::lock_guard lock(mu_);
    if (map_.size() >= max_) map_.clear();
    map_[key] = {from, until, std::move(value)};
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    int64_t from = 0, until = 0;
    std::shared_ptr<const V> value;
  };
  size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace veil::attest::dcap
