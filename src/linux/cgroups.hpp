// Cgroup placement of a container: one directory per mounted hierarchy (cgroup v2, v1, or the
// hybrid mix), created at `create`, emptied and removed at `delete`. Resource limits come later;
// this module only owns the directories and the membership.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::cgroups {

struct Hierarchy {
  std::string mountpoint;  // /sys/fs/cgroup/memory, /sys/fs/cgroup/unified, /sys/fs/cgroup
  std::string name;        // basename of the mountpoint ("memory", "cpu,cpuacct", "unified")
  bool v2 = false;
  std::string self_path;  // this process's cgroup in the hierarchy, from /proc/self/cgroup
};

enum class Mode { v2, hybrid, v1 };

struct Layout {
  Mode mode = Mode::v2;
  std::string root;  // /sys/fs/cgroup
  std::vector<Hierarchy> hierarchies;
};

// Probes /proc/self/mountinfo and /proc/self/cgroup.
Result<Layout> probe();
const char* mode_name(Mode m);

// Resolves an OCI cgroupsPath: absolute paths are taken from the hierarchy root, relative ones
// from this process's own cgroup; empty means "/veil/<id>".
std::string resolve_path(const std::string& cgroups_path, const std::string& id,
                         const Hierarchy& h);

class Cgroup {
 public:
  Cgroup() = default;
  // Directories of a container (not created yet).
  static Cgroup for_container(const Layout& layout, const std::string& cgroups_path,
                              const std::string& id);
  // Rebuilds from saved directories (state file).
  static Cgroup from_dirs(std::vector<std::string> dirs) {
    Cgroup c;
    c.dirs_ = std::move(dirs);
    return c;
  }

  Result<> create();
  Result<> add(pid_t pid) const;

  // fork() into the cgroup, without the global lock that moving another process takes
  // (cgroup_threadgroup_rwsem for writing waits for an RCU grace period: 4-12 ms measured on
  // these machines, more than the rest of `create`). clone3(CLONE_INTO_CGROUP) starts the child
  // in the cgroup v2 directory; the child then calls join_self(), which moves it into each v1
  // hierarchy by writing "0" to `tasks` (a single thread moving itself skips that lock).
  // Returns the pid in the parent, 0 in the child, -1 (errno set) on failure; *in_v2 says
  // whether the child already is in the v2 directory (false after a fallback to fork()).
  pid_t fork_child(bool* in_v2) const;
  // In the child of fork_child(), before anything else: joins the remaining directories.
  Result<> join_self(bool in_v2) const;
  std::vector<pid_t> pids() const;
  // Sends sig to every process in the cgroup.
  void signal_all(int sig) const;
  // SIGKILLs what is left, waits for the cgroup to empty, removes the directories we created.
  Result<> destroy() const;

  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  std::vector<std::string> dirs_;
};

}  // namespace veil::cgroups
