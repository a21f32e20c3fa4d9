// The microVM control channel as the host reads it: bytes from a guest that may be compromised.
// Frames are reassembled in chunks of varying size (the first byte picks them) and every report
// is interpreted as the monitor does; a bad length or type must be an error, never a crash, and
// a mirrored exit must be a plain exit or a signal the monitor may raise.
#include <signal.h>

#include <cstdint>
#include <string_view>

#include "vm/frame.hpp"
#include "vm/reports.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 64;
  veil::vm::FrameReader r;
  bool corrupt = false;
  for (size_t off = 1; off < size && !corrupt; off += chunk) {
    size_t n = std::min(chunk, size - off);
    r.feed(reinterpret_cast<const char*>(data + off), n);
    for (;;) {
      auto f = r.next();
      corrupt = !f;  // the monitor gives up on a corrupt stream too
      if (!f || !*f) break;
      if ((*f)->payload.size() > veil::vm::kMaxFrame) __builtin_trap();
      int ws = veil::vm::exit_wait_status((*f)->payload);
      int sig = ws & 0x7f;
      if (sig == SIGSTOP || sig == SIGTSTP || (sig == 0 && (ws & ~0xff00) != 0)) __builtin_trap();
      auto m = veil::vm::error_message((*f)->payload);
      for (char c : m)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') __builtin_trap();
      if (auto pid = veil::vm::reported_pid((*f)->payload); pid && *pid <= 0) __builtin_trap();
    }
  }
  return 0;
}
