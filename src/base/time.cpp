#include "base/time.hpp"

#include "base/strings.hpp"

namespace veil {

std::string format_rfc3339(const struct timespec& ts) {
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  return strprintf("%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(ts.tv_nsec));
}

Result<int64_t> parse_go_duration(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return fail("invalid duration " + quoted);
  struct Unit {
    std::string_view name;
    int64_t ns;
  };
  static constexpr Unit kUnits[] = {
      {"ns", 1},         {"us", 1000},         {"\u00b5s", 1000},     {"\u03bcs", 1000},
      {"ms", 1'000'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000},
  };
  constexpr int64_t kMax = INT64_MAX;
  int64_t total = 0;
  while (!s.empty()) {
    // number: digits, optionally "." digits (at least one digit overall)
    int64_t whole = 0;
    size_t i = 0;
    bool digits = false, overflow = false;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, digits = true) {
      if (whole > (kMax - (s[i] - '0')) / 10) overflow = true;
      if (!overflow) whole = whole * 10 + (s[i] - '0');
    }
    int64_t frac = 0, scale = 1;
    if (i < s.size() && s[i] == '.') {
      for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, digits = true) {
        if (scale <= kMax / 10 / 10) {  // keep enough precision for nanoseconds
          frac = frac * 10 + (s[i] - '0');
          scale *= 10;
        }
      }
    }
    if (!digits) return fail("invalid duration " + quoted);
    size_t u = i;
    while (u < s.size() && s[u] != '.' && (s[u] < '0' || s[u] > '9')) ++u;
    std::string_view unit = s.substr(i, u - i);
    if (unit.empty()) return fail("missing unit in duration " + quoted + " (e.g. 5s, 100ms)");
    const Unit* found = nullptr;
    for (const auto& k : kUnits)
      if (k.name == unit) found = &k;
    if (!found)
      return fail("unknown unit \"" + std::string(unit) + "\" in duration " + quoted +
                  " (use ns, us, ms, s, m or h)");
    if (overflow || whole > kMax / found->ns) return fail("duration " + quoted + " is too long");
    int64_t v = whole * found->ns;
    v += static_cast<int64_t>(static_cast<long double>(frac) * found->ns / scale);
    if (v < 0 || total > kMax - v) return fail("duration " + quoted + " is too long");
    total += v;
    s.remove_prefix(u);
  }
  return negative ? -total : total;
}

int64_t monotonic_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace veil
