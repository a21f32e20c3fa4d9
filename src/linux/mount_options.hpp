// Translates OCI mount options ("ro", "nosuid", "rbind", "rprivate", "size=64m", "rro") into
// mount(2) flags, propagation changes, mount_setattr(2) recursive attributes and a data string.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::mounts {

struct MountOptions {
  unsigned long flags = 0;                 // MS_* set on mount
  unsigned long clear = 0;                 // MS_* explicitly cleared ("rw", "suid", …)
  std::vector<unsigned long> propagation;  // MS_PRIVATE|MS_REC, MS_SHARED, …, applied in order
  uint64_t attr_set = 0;                   // MOUNT_ATTR_* applied recursively (rro, rnosuid, …)
  uint64_t attr_clr = 0;
  bool tmpcopyup = false;  // runc/crun extension: copy the directory's content into a new tmpfs
  std::string data;        // filesystem-specific, comma-joined ("size=65536k,mode=755")

  bool is_bind() const;
};

// Unknown options are passed to the filesystem as data, like runc does. Options veil cannot honour
// (idmapped mounts) are an error.
Result<MountOptions> parse_mount_options(const std::vector<std::string>& opts);

// rootfsPropagation value → mount flag (0 for "").
Result<unsigned long> parse_propagation(const std::string& s);

}  // namespace veil::mounts
