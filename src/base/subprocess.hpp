// Runs a helper program and collects what it printed: for the runtime's helpers (veil-guard),
// which keep heavy libraries out of the static `veil` binary.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil {

struct Captured {
  int status = -1;  // exit status, or 128+N when killed by signal N
  std::string out, err;
};

// posix_spawn(argv[0] as a path), inherits the environment, stdin from /dev/null, stdout and
// stderr captured in full. Fails only when the program cannot be started.
Result<Captured> run_capture(const std::vector<std::string>& argv);

// The directory holding this executable (readlink /proc/self/exe), "" when unknown.
// The directory of the running veil binary. When veil runs from its sealed in-memory copy
// or read-only view (linux/sealed_exe), the host path comes from kOriginExeEnv, set before the
// re-exec.
inline constexpr const char* kOriginExeEnv = "_VEIL_ORIGIN_EXE";
std::string self_dir();

}  // namespace veil
