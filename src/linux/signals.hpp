// Signal names and numbers as `kill` accepts them: "KILL", "SIGKILL", "9", "sigterm".
#pragma once

#include <string_view>

#include "base/error.hpp"

namespace veil::linux_signals {

Result<int> parse_signal(std::string_view s);
const char* signal_name(int sig);  // "SIGKILL"; nullptr when unknown

}  // namespace veil::linux_signals
