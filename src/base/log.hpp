// Runtime log: errors always reach stderr; with --log they are also appended to a file in text or
// JSON lines ({"level","msg","time"}), which is where containerd's shim looks for the last error.
#pragma once

#include <string>
#include <string_view>

namespace veil::log {

enum class Level { debug, info, warning, error };
enum class Format { text, json };

struct Options {
  std::string file;  // empty: no log file
  Format format = Format::text;
  bool debug = false;
};

void configure(const Options& opts);
// The --log file's fd (-1 without one): kept open when a container process closes other fds.
int file_fd();
void write(Level level, std::string_view msg);

inline void debug(std::string_view m) {
  write(Level::debug, m);
}
inline void info(std::string_view m) {
  write(Level::info, m);
}
inline void warn(std::string_view m) {
  write(Level::warning, m);
}
inline void error(std::string_view m) {
  write(Level::error, m);
}

// RFC 3339 with nanoseconds, UTC ("2026-11-21T13:29:03.123456789Z").
std::string rfc3339_now();

}  // namespace veil::log
