// Freezing a container's cgroup (pause/resume): the v1 freezer controller when the host mounts it,
// otherwise cgroup v2's cgroup.freeze.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::cgroups {

// Freezes or thaws, and waits until the kernel reports the new state.
Result<> set_frozen(const std::vector<std::string>& dirs, bool frozen);
bool is_frozen(const std::vector<std::string>& dirs);
// Any freezing in force on these (existing) directories, by either hierarchy, also inherited from
// an ancestor (v1 FREEZING/FROZEN, v2 cgroup.freeze 1 or cgroup.events "frozen 1"): a process
// placed there would stop at once. create refuses it, as runc does.
bool any_frozen(const std::vector<std::string>& dirs);

}  // namespace veil::cgroups
