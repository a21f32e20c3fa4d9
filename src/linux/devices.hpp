// /dev inside the container: the default device nodes every container gets, the config's devices,
// and the standard /dev symlinks.
#pragma once

#include <vector>

#include "base/error.hpp"
#include "oci/spec.hpp"

namespace veil::devices {

// null, zero, full, random, urandom, tty (all 0666, root-owned).
std::vector<oci::Device> default_devices();

// Creates each device under root_fd (mknod, or a bind mount of the host node when in a new user
// namespace, where mknod is not allowed).
Result<> create_devices(int root_fd, const std::vector<oci::Device>& devs, bool bind);

// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, /dev/core, and /dev/ptmx -> pts/ptmx.
Result<> create_symlinks(int root_fd, bool have_devpts);

}  // namespace veil::devices
