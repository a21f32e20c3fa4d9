// What the host makes of the guest's reports. A guest is not trusted: a compromised one can send
// any bytes, so every payload is checked here (fuzzed: fuzz/vm_frames_fuzz.cpp) before the monitor
// acts on it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace veil::vm {

// An exit frame ({"status": 0..255} or {"signal": N}) as a wait status the monitor mirrors. A
// signal it must not raise on itself (none, out of range, or a stop signal) or anything malformed
// is exit status 255.
int exit_wait_status(std::string_view payload);
// The message of an error frame (the payload itself when it is not {"message": string}),
// printable: control characters other than tab become '?', at most 4 KiB.
std::string error_message(std::string_view payload);
// The pid of a created/started frame, when it is a positive integer.
std::optional<int> reported_pid(std::string_view payload);

}  // namespace veil::vm
