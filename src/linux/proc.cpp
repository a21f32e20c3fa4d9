#include "linux/proc.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace veil::linux_proc {

std::optional<ProcStat> read_stat(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // comm may contain spaces and parentheses: fields resume after the last ')'.
  char* p = std::strrchr(buf, ')');
  if (!p || p[1] == '\0') return std::nullopt;
  p += 2;
  ProcStat st;
  st.state = *p;
  // After the state (field 3) come fields 4..; start_time is field 22.
  int field = 3;
  while (*p && field < 22) {
    if (*p == ' ') ++field;
    ++p;
  }
  st.start_time = std::strtoull(p, nullptr, 10);
  return st;
}

bool alive(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  auto st = read_stat(pid);
  if (!st) return false;
  if (st->state == 'Z' || st->state == 'X') return false;
  return start_time == 0 || st->start_time == start_time;
}

std::vector<pid_t> children_of_self() {
  std::vector<pid_t> out;
  std::string path = "/proc/self/task/" + std::to_string(::gettid()) + "/children";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return out;
  buf[n] = 0;
  char* p = buf;
  while (*p) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end == p) break;
    if (v > 0) out.push_back(static_cast<pid_t>(v));
    p = end;
  }
  return out;
}

}  // namespace veil::linux_proc
