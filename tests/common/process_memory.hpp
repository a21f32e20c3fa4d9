// For the tests that prove a long-lived host process (a microVM's monitor, the pod's shim) keeps
// no copy of a secret: every writable mapping of a process, read through /proc/<pid>/mem.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace veil_test {

struct MemoryScan {
  size_t scanned = 0;  // bytes read
  bool found = false;  // one of the needles was there
};

inline MemoryScan scan_writable_memory(pid_t pid, const std::vector<std::string>& needles) {
  MemoryScan out;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  int mem = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0) return out;
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[1] != 'w') continue;
    std::string buf(hi - lo, '\0');
    ssize_t n = ::pread(mem, buf.data(), buf.size(), static_cast<off_t>(lo));
    if (n <= 0) continue;
    buf.resize(static_cast<size_t>(n));
    out.scanned += buf.size();
    for (const auto& needle : needles) out.found |= buf.find(needle) != std::string::npos;
  }
  ::close(mem);
  return out;
}

}  // namespace veil_test
