// Namespaces: joining by path (setns), creating (unshare), user-namespace id maps and time
// namespace offsets.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "oci/spec.hpp"

namespace veil::namespaces {

struct ToJoin {
  oci::NsType type;
  std::string path;
  Fd fd;
};

// Opens every namespace path of the config (before anything changes this process's view).
Result<std::vector<ToJoin>> open_paths(const std::vector<oci::Namespace>& nss);
// setns() into one of them; the error names the path.
Result<> join(const ToJoin& ns);
// CLONE_NEW* flags for the namespaces to create, excluding `except`.
int new_flags(const std::vector<oci::Namespace>& nss, int except = 0);

// Writes /proc/<pid>/uid_map and gid_map. Host-side, by the parent, for a child that unshared a
// user namespace.
Result<> write_id_maps(pid_t pid, const std::vector<oci::IdMapping>& uids,
                       const std::vector<oci::IdMapping>& gids);

// Writes /proc/self/timens_offsets (must happen before the first process enters the namespace).
Result<> write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets);

}  // namespace veil::namespaces
