// Small file helpers: whole-file reads and writes, atomic replace.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace veil {

// The whole file; a file larger than `max_bytes` is an error naming it.
Result<std::string> read_file(const std::string& path, size_t max_bytes = SIZE_MAX);
// Writes the whole string to an existing file (e.g. under /proc or /sys).
Result<> write_file(const std::string& path, std::string_view data);
// Writes to path.tmp, fsyncs, renames over path: readers see the old or the new file, never half.
Result<> write_file_atomic(const std::string& path, std::string_view data, int mode = 0644);
// mkdir -p.
Result<> mkdir_all(const std::string& path, int mode = 0755);
// rm -rf of a directory tree on one filesystem (does not follow symlinks).
Result<> remove_all(const std::string& path);
bool path_exists(const std::string& path);
// The target of a symbolic link (e.g. /proc/<pid>/exe, /proc/self/fd/N); "" when unreadable.
std::string read_link(const std::string& path);

}  // namespace veil
