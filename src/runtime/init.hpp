// The container side of `create`: code that runs in the forked children.
//   stage 1 (forked by the parent): joins namespaces by path, creates the new ones (the parent
//     writes the uid/gid maps), writes time offsets, then clones stage 2 as a sibling
//     (CLONE_PARENT) so the container process is a child of the caller, and exits.
//   stage 2 (the container's process, pid 1 of a new pid namespace): builds the rootfs, hostname,
//     sysctls, rlimits, identity and capabilities, reports "ready", then blocks on the exec fifo
//     until `start` and execs the configured process.
#pragma once

#include <string>
#include <vector>

#include "linux/cgroups.hpp"
#include "linux/seccomp.hpp"
#include "linux/secrets_mount.hpp"
#include "oci/spec.hpp"
#include "runtime/guard_setup.hpp"
#include "runtime/sync.hpp"

namespace veil::runtime {

struct InitConfig {
  const oci::Spec* spec = nullptr;
  std::string id;      // the container id (names the session keyring)
  std::string rootfs;  // absolute
  bool no_pivot = false;
  bool new_keyring = true;
  int preserve_fds = 0;
  int fifo_fd = -1;  // exec fifo, opened O_RDWR by the parent
  int lock_fd = -1;  // the parent's state-directory lock: closed first thing in the child
  const cgroups::Layout* cgroup_layout = nullptr;
  std::vector<std::string> cgroup_dirs;
  const cgroups::Cgroup* cgroup = nullptr;     // stage 1 joins it first (Cgroup::join_self)
  bool cgroup_in_v2 = false;                   // set in the child of Cgroup::fork_child
  seccomp::CompiledFilter* seccomp = nullptr;  // compiled by the parent; loaded in stage 2
  GuardPlan* guard = nullptr;                  // planned by the parent; applied in stage 2
  // org.veil.secrets, fetched by the parent: mounted in stage 2 at /run/secrets, then closed.
  std::vector<secrets_mount::SecretFile>* secrets = nullptr;
};

[[noreturn]] void run_stage1(const InitConfig& cfg, const SyncChannel& ch);

}  // namespace veil::runtime
