// Reading fields of untrusted JSON without exceptions: nlohmann's j.value(key, default) throws
// type_error when the field exists with another type (found by the fuzzers: {"format":[…]} as
// TPM evidence took the key broker down). These return the default instead.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace veil::attest {

inline std::string string_or(const nlohmann::json& j, const char* key, std::string def = "") {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

inline bool bool_or(const nlohmann::json& j, const char* key, bool def) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : def;
}

}  // namespace veil::attest
