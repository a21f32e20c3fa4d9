// The container's filesystem view, built inside its new mount namespace: rootfs propagation,
// the config's mounts (confined to the rootfs), devices, pivot_root (or chroot with --no-pivot),
// then masked paths, read-only paths and a read-only root.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/cgroups.hpp"
#include "oci/spec.hpp"

namespace veil::rootfs {

struct Context {
  const oci::Spec* spec = nullptr;
  std::string rootfs;       // absolute host path of root.path
  bool new_userns = false;  // devices are bind-mounted instead of mknod'ed
  bool no_pivot = false;
  const cgroups::Layout* cgroup_layout = nullptr;  // for "cgroup" mounts
  std::vector<std::string> cgroup_dirs;            // the container's cgroup per hierarchy
  // Per spec.mounts element: a detached tree of the bind source opened before the user namespace
  // (linux/mount_sources), or -1 (mounted by path). Null: every source by path.
  const std::vector<int>* source_fds = nullptr;
};

// Before pivot: runs in the container's mount namespace with the host's paths still visible.
Result<> prepare(const Context& ctx);
// pivot_root into the rootfs and detach the old root (or MS_MOVE + chroot with no_pivot).
Result<> enter(const Context& ctx);
// After pivot: maskedPaths, readonlyPaths, root.readonly, rootfsPropagation.
Result<> finalize(const Context& ctx);

}  // namespace veil::rootfs
