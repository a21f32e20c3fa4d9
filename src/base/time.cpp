#include "base/time.hpp"

#include "base/strings.hpp"

namespace veil {

std::string format_rfc3339(const struct timespec& ts) {
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  return strprintf("%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(ts.tv_nsec));
}

}  // namespace veil
