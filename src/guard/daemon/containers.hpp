// The daemon's view of guarded containers, keyed by cgroup v2 id, read from the registry files
// the runtime writes (<run dir>/containers/<cgroup id>.json), so it survives daemon restarts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "guard/instance.hpp"
#include "guard/registry.hpp"
#include "guard/spec.hpp"

namespace veil::guard {

struct Container : ContainerInfo {
  Spec spec;
  std::vector<int> notify_fds;  // seccomp notify fds the daemon answers for this container
  bool marked = false;          // fanotify marks placed on its mounts
};

class Containers {
 public:
  explicit Containers(Instance inst) : inst_(std::move(inst)) {}
  // (Re)reads the registry file of one container.
  Result<Container*> load(uint64_t cgroup_id);
  // Every registry file (daemon start).
  std::vector<uint64_t> scan();
  Container* find(uint64_t cgroup_id);
  // The container whose cgroup holds pid (from /proc/<pid>/cgroup), or nullptr.
  Container* of_pid(pid_t pid);
  void remove(uint64_t cgroup_id);
  std::map<uint64_t, Container>& all() { return by_cgroup_; }
  // Whether any registered container has exec path globs (the daemon then skips the kernel's
  // ignore marks, which are shared by every container using an inode).
  bool any_path_rules() const;

 private:
  Instance inst_;
  std::map<uint64_t, Container> by_cgroup_;
  std::string v2_root_;
};

}  // namespace veil::guard
