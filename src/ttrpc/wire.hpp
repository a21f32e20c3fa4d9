// ttrpc's framing (docs/ttrpc.md): every message is a 10-byte header
//   u32 big-endian length of the data | u32 big-endian stream id | u8 type | u8 flags
// followed by the data: a protobuf Request (type 1) or Response (type 2). Clients use odd stream
// ids. Data longer than kMaxData is refused (the connection cannot be resynchronised after it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::ttrpc {

inline constexpr size_t kHeaderSize = 10;
inline constexpr uint32_t kMaxData = 4u << 20;

enum class MessageType : uint8_t { request = 1, response = 2, data = 3 };

// gRPC status codes (the ones veil returns or reads).
enum class Code : int {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  failed_precondition = 9,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
};

struct Status {
  Code code = Code::ok;
  std::string message;
};

struct Message {
  uint32_t stream = 0;
  MessageType type{};
  uint8_t flags = 0;
  std::string data;
};

std::string encode(uint32_t stream, MessageType type, std::string_view data);

// Reassembles messages from a byte stream.
class Decoder {
 public:
  void feed(const char* p, size_t n) { buf_.append(p, n); }
  // The next whole message; nullopt when more bytes are needed; an error for an oversized
  // length or an unknown type.
  Result<std::optional<Message>> next();
  size_t buffered() const { return buf_.size(); }

 private:
  std::string buf_;
};

}  // namespace veil::ttrpc
