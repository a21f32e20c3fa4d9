// Pieces of parse_spec() split across files; not part of the public API.
#pragma once

#include "oci/json_path.hpp"
#include "oci/spec.hpp"

namespace veil::oci {

// `j` is present; each validates everything it reads.
Result<Process> parse_process(const JsonAt& j);
Result<Linux> parse_linux(const JsonAt& j);

}  // namespace veil::oci
