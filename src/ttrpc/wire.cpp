#include "ttrpc/wire.hpp"

#include "base/strings.hpp"

namespace veil::ttrpc {
namespace {

void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

}  // namespace

std::string encode(uint32_t stream, MessageType type, std::string_view data) {
  std::string out;
  out.reserve(kHeaderSize + data.size());
  put_u32(out, static_cast<uint32_t>(data.size()));
  put_u32(out, stream);
  out.push_back(static_cast<char>(type));
  out.push_back(0);
  out.append(data);
  return out;
}

Result<std::optional<Message>> Decoder::next() {
  if (buf_.size() < kHeaderSize) return std::nullopt;
  uint32_t length = get_u32(buf_, 0);
  if (length > kMaxData)
    return fail(
        strprintf("ttrpc: a message of %u bytes exceeds the %u-byte limit", length, kMaxData));
  auto type = static_cast<uint8_t>(buf_[8]);
  if (type < 1 || type > 3) return fail(strprintf("ttrpc: unknown message type %u", type));
  if (buf_.size() < kHeaderSize + length) return std::nullopt;
  Message m;
  m.stream = get_u32(buf_, 4);
  m.type = static_cast<MessageType>(type);
  m.flags = static_cast<uint8_t>(buf_[9]);
  m.data = buf_.substr(kHeaderSize, length);
  buf_.erase(0, kHeaderSize + length);
  return m;
}

}  // namespace veil::ttrpc
