// Time formatting shared by state files and logs.
#pragma once

#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil {

// RFC 3339, UTC, nanosecond precision: "2026-11-21T13:29:03.123456789Z".
std::string format_rfc3339(const struct timespec& ts);

// A Go duration ("5s", "100ms", "1m30s", "1.5h", "250us"; units ns us µs ms s m h; "0"), as
// runc's --interval takes it, in nanoseconds. Errors say what is wrong with the text.
Result<int64_t> parse_go_duration(std::string_view text);

// CLOCK_MONOTONIC in milliseconds (for deadlines).
int64_t monotonic_ms();

}  // namespace veil
