#pragma once

#include "base/error.hpp"
#include "runtime/exec.hpp"
#include "runtime/state.hpp"

namespace veil::runtime::microvm {

// `veil exec` for a container with handler "microvm" (already found running or created).
Result<int> exec(const Globals& g, const State& st, const ExecOptions& o);

}  // namespace veil::runtime::microvm
