// Shared directories for a microVM: one virtiofsd (QEMU's, /usr/lib/qemu/virtiofsd, the only one
// Debian 12 packages) per directory, in its own namespace sandbox, speaking vhost-user to QEMU.
// Its listening socket is a file in the sandbox's 0700 vm directory, connected to at once by us
// (the end QEMU gets as a chardev fd) and unlinked: nobody else can reach the daemon.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::vm {

inline constexpr const char* kVirtiofsd = "/usr/lib/qemu/virtiofsd";

struct SharedDir {
  pid_t pid = -1;  // virtiofsd: SIGKILLed when the calling thread's process dies
  Fd qemu_end;     // connected to virtiofsd's vhost-user socket, for QEMU
};

// Starts virtiofsd for `source` with its socket at socket_path and its log at log_path.
Result<SharedDir> start_virtiofsd(const std::string& source, const std::string& socket_path,
                                  const std::string& log_path);

}  // namespace veil::vm
