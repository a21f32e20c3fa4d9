// The shim's ttrpc connection as it reads it: bytes from whoever connects to the pod's socket.
// Messages are reassembled in chunks of varying size (the first byte picks them); a bad length or
// type must be an error, never a crash; every request's envelope and, for the task service, its
// CreateTaskRequest payload are decoded as the shim does.
#include <cstdint>

#include "task.pb.h"
#include "ttrpc.pb.h"
#include "ttrpc/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 64;
  veil::ttrpc::Decoder d;
  for (size_t off = 1; off < size; off += chunk) {
    d.feed(reinterpret_cast<const char*>(data + off), std::min(chunk, size - off));
    for (;;) {
      auto m = d.next();
      if (!m) return 0;  // the server drops such a connection
      if (!*m) break;
      if ((*m)->data.size() > veil::ttrpc::kMaxData) __builtin_trap();
      ::ttrpc::Request req;
      if (!req.ParseFromString((*m)->data)) continue;
      containerd::task::v2::CreateTaskRequest create;
      if (create.ParseFromString(req.payload()))
        for (const auto& mount : create.rootfs()) (void)mount.options_size();
    }
  }
  return 0;
}
