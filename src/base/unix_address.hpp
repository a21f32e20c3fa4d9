// Unix socket addresses for any path: sun_path holds 107 bytes, but state directories named by
// 64-hex container ids under a configured root (containerd's runtime `Root`) can be longer. Such a
// path is reached through an O_PATH descriptor of its directory: /proc/self/fd/N/<name>.
#pragma once

#include <sys/un.h>

#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil {

// The address of path; `dir` keeps the directory open while the address is in use (bind or
// connect). An error names the path when even the short form cannot hold it.
Result<sockaddr_un> unix_address(const std::string& path, Fd& dir);

}  // namespace veil
