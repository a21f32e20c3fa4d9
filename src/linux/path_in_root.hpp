// Path resolution confined to a root directory (openat2 RESOLVE_IN_ROOT): a symlink in the
// container image such as /etc -> /host/etc can never lead a mount or mknod out of the rootfs.
#pragma once

#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::rootpath {

// Opens path (relative to root_fd, leading '/' ignored) with flags, never escaping root_fd.
Result<Fd> open_in_root(int root_fd, const std::string& path, int flags, int mode = 0);
// mkdir -p inside the root; returns an O_PATH fd on the final directory.
Result<Fd> mkdir_in_root(int root_fd, const std::string& path, int mode = 0755);
// Makes sure path exists as a regular file (creating parents); returns an O_PATH fd on it.
Result<Fd> touch_in_root(int root_fd, const std::string& path);
// "/proc/self/fd/N": the path under which mount(2) and friends act on an fd.
std::string fd_path(int fd);

}  // namespace veil::rootpath
