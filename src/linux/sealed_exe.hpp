// CVE-2019-5736 protection: the veil process that enters a container never runs from the host's
// veil binary. Before `create`, `run` or `exec` do anything, veil re-executes itself from a view
// of its binary that nobody can write: a detached read-only overlayfs of its directory (runc 1.2's
// way: no copy, a few tens of microseconds), or where that cannot be mounted, a sealed in-memory
// copy (memfd with F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL, as runc 1.1 and crun do).
// A container process that opens /proc/<pid>/exe of a veil process reaches only that view. The
// stages that enter a container are also made non-dumpable (runtime/init.cpp, runtime/exec.cpp), so
// /proc/<pid>/exe cannot even be opened from inside.
#pragma once

#include <string>

#include "base/error.hpp"

namespace veil::sealed_exe {

// True when this process runs from a sealed memfd copy or from a read-only mount.
bool running_sealed();

// Re-executes the current program from the read-only overlay, else a sealed memfd copy, with the
// same argv and environment
// (plus base's kOriginExeEnv). Returns only on failure, with an error that names the step.
Result<> reexec(char** argv);

}  // namespace veil::sealed_exe
