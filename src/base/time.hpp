// Time formatting shared by state files and logs.
#pragma once

#include <time.h>

#include <string>

namespace veil {

// RFC 3339, UTC, nanosecond precision: "2026-11-21T13:29:03.123456789Z".
std::string format_rfc3339(const struct timespec& ts);

}  // namespace veil
