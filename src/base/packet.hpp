// Messages over a SOCK_SEQPACKET unix socket: one packet = a text (JSON, by convention) and at
// most one file descriptor (SCM_RIGHTS). Packets keep their boundaries, so no framing is needed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil {

struct Packet {
  std::string text;
  Fd fd;  // the attached descriptor (O_CLOEXEC), if any
};

// Largest text a packet may carry.
inline constexpr size_t kMaxPacket = 64 * 1024;

// Sends text (at most kMaxPacket bytes) and, when fd >= 0, a copy of fd.
Result<> send_packet(int sock, std::string_view text, int fd = -1);
// Waits up to timeout_ms (-1: forever) for a packet; nullopt when the peer closed the socket.
// A timeout is an error with errno ETIMEDOUT.
Result<std::optional<Packet>> recv_packet(int sock, int timeout_ms = -1);

}  // namespace veil
