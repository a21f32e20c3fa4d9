// process.terminal: the container's stdio is a pty from its own devpts. The master goes to the
// caller: over --console-socket (runc's protocol: the fd via SCM_RIGHTS, the pty name as data), or
// — for a foreground `run`/`exec` without a console socket — to veil itself, which relays between
// its own stdio and the pty until the process exits.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "oci/spec.hpp"

namespace veil::runtime {

// In the container process, after pivot_root: opens /dev/ptmx, sets the size, makes the pty its
// controlling terminal and stdin/stdout/stderr. Returns the master.
Result<Fd> setup_terminal(const std::optional<oci::ConsoleSize>& size, uid_t uid);

// Sends the master to the unix socket at path.
Result<> send_to_console_socket(const std::string& path, int master);

// Relays stdin → master and master → stdout (stdin in raw mode when it is a terminal; window size
// follows SIGWINCH) until `child` exits; forwards the other signals of `fwd` to it. Returns the
// exit status (128+N for signal N).
int relay_and_wait(int master, pid_t child, const sigset_t& fwd);

}  // namespace veil::runtime
