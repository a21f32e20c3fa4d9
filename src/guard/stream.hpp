// `veil events --follow [ID]`: the guard daemon's audit stream (its events socket), one JSON
// object per line, optionally only one container's events (loss and daemon records always pass).
#pragma once

#include <functional>
#include <string>

#include "base/error.hpp"
#include "guard/instance.hpp"

namespace veil::guard {

// Calls out for each line until the daemon closes the stream or out returns false.
Result<> follow_events(const Instance& inst, const std::string& container_id,
                       const std::function<bool(const std::string&)>& out);

}  // namespace veil::guard
