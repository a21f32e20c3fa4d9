// process.rlimits → setrlimit.
#pragma once

#include <vector>

#include "base/error.hpp"
#include "oci/spec.hpp"

namespace veil::rlimits {

Result<> apply(const std::vector<oci::Rlimit>& limits);

}  // namespace veil::rlimits
