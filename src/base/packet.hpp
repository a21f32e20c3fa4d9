// Messages over a SOCK_SEQPACKET unix socket: one packet = a text (JSON, by convention) and at
// most kMaxPacketFds file descriptors (SCM_RIGHTS). Packets keep their boundaries, so no framing
// is needed. (send_packet also suits a stream socket whose peer reads the text its own way.)
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil {

struct Packet {
  std::string text;
  Fd fd;                 // the (first) attached descriptor (O_CLOEXEC), if any
  std::vector<Fd> more;  // the others, in order
};

inline constexpr size_t kMaxPacketFds = 4;

// Largest text a packet may carry.
inline constexpr size_t kMaxPacket = 64 * 1024;

// Sends text (at most kMaxPacket bytes) and, when fd >= 0, a copy of fd.
Result<> send_packet(int sock, std::string_view text, int fd = -1);
// Sends text and copies of fds (at most kMaxPacketFds).
Result<> send_packet(int sock, std::string_view text, std::initializer_list<int> fds);
// Waits up to timeout_ms (-1: forever) for a packet; nullopt when the peer closed the socket.
// A timeout is an error with errno ETIMEDOUT.
Result<std::optional<Packet>> recv_packet(int sock, int timeout_ms = -1);

}  // namespace veil
