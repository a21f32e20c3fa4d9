// Shared by the fuzz targets: the input as text, and JSON parsed without exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

namespace veil::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline nlohmann::json json_of(const uint8_t* data, size_t size) {
  return nlohmann::json::parse(text(data, size), nullptr, false);
}

}  // namespace veil::fuzz
