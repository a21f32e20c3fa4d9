// A cursor into a parsed JSON document that knows its own path ("linux.namespaces[2].type"), so
// every validation error can say exactly where the problem is.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace veil::oci {

// "string", "number", "boolean", "object", "array", "null".
std::string json_type_name(const nlohmann::json& v);
// A string as a JSON literal, for messages: "foo" with escapes.
inline std::string json_quote(const std::string& s) {
  return nlohmann::json(s).dump();
}

class JsonAt {
 public:
  // The document root (path "").
  explicit JsonAt(const nlohmann::json& root) : v_(&root) {}
  JsonAt(const nlohmann::json* v, std::string path) : v_(v), path_(std::move(path)) {}

  // "" at the root.
  const std::string& path() const { return path_; }
  // The path as shown in messages: "config.json" at the root.
  std::string where() const { return path_.empty() ? std::string("config.json") : path_; }
  // Present and not null.
  bool present() const { return v_ != nullptr && !v_->is_null(); }
  const nlohmann::json& value() const { return *v_; }

  // Member of an object (absent when missing or when this is not an object).
  JsonAt operator[](std::string_view key) const;
  // Element of an array (absent when out of range or when this is not an array).
  JsonAt operator[](size_t i) const;
  // Members of an object, sorted by key.
  std::vector<std::pair<std::string, JsonAt>> items() const;

  // "<path>: <msg>".
  std::unexpected<Error> fail(std::string_view msg) const;
  // "<path>: expected <what>, got <type>".
  std::unexpected<Error> type_error(std::string_view what) const;

  // Required values: absent fails with "is required", null with a type error.
  Result<> object() const;
  Result<size_t> array() const;  // the number of elements
  Result<std::string> string() const;
  Result<std::string> abs_path() const;  // a string starting with '/'
  Result<bool> boolean() const;
  template <std::integral T>
  Result<T> integer() const;
  Result<std::vector<std::string>> strings() const;
  Result<std::map<std::string, std::string>> string_map() const;

  // Optional values: leave `out` untouched when absent or null.
  Result<> get(std::string& out) const { return opt(out, &JsonAt::string); }
  Result<> get(bool& out) const { return opt(out, &JsonAt::boolean); }
  Result<> get(std::vector<std::string>& out) const { return opt(out, &JsonAt::strings); }
  Result<> get(std::map<std::string, std::string>& out) const {
    return opt(out, &JsonAt::string_map);
  }
  template <std::integral T>
  Result<> get(T& out) const {
    return opt(out, &JsonAt::integer<T>);
  }
  template <std::integral T>
  Result<> get(std::optional<T>& out) const {
    if (!present()) return {};
    out = VEIL_TRY(integer<T>());
    return {};
  }

 private:
  template <class T>
  Result<> opt(T& out, Result<T> (JsonAt::*read)() const) const {
    if (!present()) return {};
    out = VEIL_TRY((this->*read)());
    return {};
  }
  std::unexpected<Error> integer_error(std::string_view what) const;

  const nlohmann::json* v_ = nullptr;
  std::string path_;
};

template <std::integral T>
Result<T> JsonAt::integer() const {
  static const std::string what =
      std::string(std::is_signed_v<T> ? "a " : "an unsigned ") +
      std::to_string(std::numeric_limits<T>::digits + (std::is_signed_v<T> ? 1 : 0)) +
      "-bit integer";
  if (!v_) return fail("is required");
  if (v_->is_number_unsigned()) {
    auto u = v_->get<uint64_t>();
    if (std::in_range<T>(u)) return static_cast<T>(u);
  } else if (v_->is_number_integer()) {
    auto i = v_->get<int64_t>();
    if (std::in_range<T>(i)) return static_cast<T>(i);
  }
  return integer_error(what);
}

}  // namespace veil::oci
