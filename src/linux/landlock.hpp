// Landlock (unprivileged, stackable LSM): a process restricts itself and its descendants. The
// raw syscalls, with the structures of ABI 4 (network ports) defined here because Debian 12's
// kernel headers stop at ABI 2.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace veil::landlock {

// Access bits (the kernel's LANDLOCK_ACCESS_FS_* / _NET_*).
inline constexpr uint64_t kExecute = 1ULL << 0;
inline constexpr uint64_t kWriteFile = 1ULL << 1;
inline constexpr uint64_t kRemoveDir = 1ULL << 4;
inline constexpr uint64_t kRemoveFile = 1ULL << 5;
inline constexpr uint64_t kMakeChar = 1ULL << 6;
inline constexpr uint64_t kMakeDir = 1ULL << 7;
inline constexpr uint64_t kMakeReg = 1ULL << 8;
inline constexpr uint64_t kMakeSock = 1ULL << 9;
inline constexpr uint64_t kMakeFifo = 1ULL << 10;
inline constexpr uint64_t kMakeBlock = 1ULL << 11;
inline constexpr uint64_t kMakeSym = 1ULL << 12;
inline constexpr uint64_t kRefer = 1ULL << 13;         // ABI 2
inline constexpr uint64_t kTruncate = 1ULL << 14;      // ABI 3
inline constexpr uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4 (net)

// Access rights valid on a regular file (the rest only apply beneath directories).
inline constexpr uint64_t kFileAccess = kExecute | kWriteFile | (1ULL << 2) | kTruncate;

// The Landlock ABI version of this kernel; 0 when Landlock is unavailable.
int abi();

// Every write-like filesystem right this ABI knows.
uint64_t write_access(int abi);

struct Ruleset {
  uint64_t handled_fs = 0;
  uint64_t handled_net = 0;
  std::vector<std::pair<std::string, uint64_t>> paths;  // allowed beneath path
  std::vector<std::pair<uint16_t, uint64_t>> ports;     // allowed for port
};

// Builds the ruleset and restricts the calling thread (needs no_new_privs or CAP_SYS_ADMIN).
// Paths that do not exist are skipped.
Result<> restrict_self(const Ruleset& r);

}  // namespace veil::landlock
