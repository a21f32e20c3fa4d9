// runc's stats object (what the guest reports for a container's cgroup) as containerd's
// io.containerd.cgroups.v2.Metrics, the message the task service's Stats returns and the CRI
// turns into ContainerStats.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace veil::shim {

inline constexpr const char* kMetricsType = "io.containerd.cgroups.v2.Metrics";

// The serialized Metrics message.
std::string metrics_from_stats(const nlohmann::json& stats);

}  // namespace veil::shim
