// Bind mount sources opened with the runtime's own credentials — host root, which may search
// directories the container's root (an unprivileged uid in a user namespace) may not — inside the
// container's mount namespace, then bind-mounted from those fds by the container process. A volume
// under a 0700 directory of host root still mounts (runc 1.1 does the same with its "mount fds").
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "oci/spec.hpp"

namespace veil::mount_sources {

// Whether mounts[i] is a bind mount (whose source is opened here).
bool is_bind(const oci::Mount& m);

// In the caller (host root): enters the mount namespace of `pid` for the time it takes, opens the
// source of every bind mount (O_PATH) and comes back (mount namespace and working directory).
// One entry per element of `mounts`; an invalid Fd for mounts that are not binds. Errors name the
// mount and its source.
Result<std::vector<Fd>> open_in(pid_t pid, const std::vector<oci::Mount>& mounts);

// In the container process: bind-mounts the source opened above at `target`.
Result<> attach(int fd, const std::string& target, bool recursive, const std::string& what);

}  // namespace veil::mount_sources
