// linux.resources → cgroup files, on cgroup v1, v2 and hybrid hosts. For each controller the v1
// hierarchy is used when the host mounts one; otherwise the unified (v2) hierarchy when it offers
// the controller; otherwise the resource is refused with an error naming it (never ignored).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/cgroup_devices.hpp"
#include "linux/cgroups.hpp"

namespace veil::cgroups {

// Writes every resource in `resources` (the OCI linux.resources object, or the object `update`
// reads) into the container's cgroup directories `dirs` (as made by Cgroup::for_container).
// `where` prefixes error paths ("linux.resources"). Device rules go through
// apply_device_rules (cgroup_devices.hpp) with `device_state` (the container's, from its state
// file; updated in place), so the standard devices and the config's linux.devices stay allowed.
Result<> apply_resources(const Layout& layout, const std::vector<std::string>& dirs,
                         const nlohmann::json& resources, const std::string& where,
                         DeviceState* device_state = nullptr);

// v1 cpu.shares (2..262144) → v2 cpu.weight (1..10000), as runc converts.
uint64_t shares_to_weight(uint64_t shares);
// v1 blkio.weight (10..1000) → v2 io.weight (1..10000).
uint64_t blkio_to_io_weight(uint64_t w);

}  // namespace veil::cgroups
