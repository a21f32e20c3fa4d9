// The parent's side of `create`'s sync dialogue with the init stages (init.cpp): answers their
// requests (uid/gid maps, hooks, the pty, notify fds) until the container process is ready. Every
// wait is bounded (setup_timeout_ms) and a child's death shows as EOF, so a stopped or dead child
// becomes an error that names the step it was in.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "linux/seccomp.hpp"
#include "oci/spec.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/state.hpp"
#include "runtime/sync.hpp"

namespace veil::runtime {

struct SetupDialogue {
  const oci::Spec* spec = nullptr;
  const CreateOptions* opts = nullptr;
  const State* state = nullptr;                     // for hooks and the seccomp agent (pid is set)
  const seccomp::CompiledFilter* filter = nullptr;  // the user's profile, if any
  pid_t stage1 = -1;
  Fd* console_out = nullptr;  // foreground run: receives the pty master
  // Filled in as the dialogue goes.
  pid_t stage2 = -1;
  Fd guard_notify;
};

// Runs the dialogue until "ready". On error the caller's rollback kills the children.
Result<> drive_setup(const SyncChannel& ch, SetupDialogue& d);

}  // namespace veil::runtime
