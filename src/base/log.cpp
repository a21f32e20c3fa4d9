#include "base/log.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/time.hpp"

namespace veil::log {
namespace {

Options g_opts;
int g_fd = -1;

const char* level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "error";
}

void write_all(int fd, const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

std::string rfc3339_now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return format_rfc3339(ts);
}

int file_fd() {
  return g_fd;
}

void configure(const Options& opts) {
  g_opts = opts;
  if (g_fd >= 0) ::close(g_fd);
  g_fd = -1;
  if (!opts.file.empty())
    g_fd = ::open(opts.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void write(Level level, std::string_view msg) {
  if (level == Level::debug && !g_opts.debug) return;
  // Without --log, warnings go to stderr too (as runc), debug lines only with --debug.
  if (level == Level::error || (g_fd < 0 && (g_opts.debug || level == Level::warning))) {
    std::string line = "veil: ";
    if (level != Level::error) line += std::string(level_name(level)) + ": ";
    line.append(msg);
    line += '\n';
    write_all(STDERR_FILENO, line);
  }
  if (g_fd < 0) return;
  std::string line;
  if (g_opts.format == Format::json) {
    nlohmann::json j = {{"level", level_name(level)}, {"msg", msg}, {"time", rfc3339_now()}};
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    line = rfc3339_now() + " " + level_name(level) + " " + std::string(msg) + "\n";
  }
  write_all(g_fd, line);
}

}  // namespace veil::log
