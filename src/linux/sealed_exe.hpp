// CVE-2019-5736 protection: the veil process that enters a container never runs from the host's
// veil binary. Before `create`, `run` or `exec` do anything, veil re-executes itself from a sealed
// in-memory copy (memfd with F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL, as runc and crun
// do), so a container process that opens /proc/<pid>/exe of a veil process reaches only that copy,
// which nobody can write. The stages that enter a container are also made non-dumpable
// (runtime/init.cpp, runtime/exec.cpp), so /proc/<pid>/exe cannot even be opened from inside.
#pragma once

#include <string>

#include "base/error.hpp"

namespace veil::sealed_exe {

// True when this process runs from a sealed memfd copy.
bool running_sealed();

// Re-executes the current program from a sealed memfd copy with the same argv and environment
// (plus base's kOriginExeEnv). Returns only on failure, with an error that names the step.
Result<> reexec(char** argv);

}  // namespace veil::sealed_exe
