// Where a pod's shim listens: containerd's convention (MICROVM.md §5), a unix socket under
// /run/containerd/s named by sha256(<containerd address>/<namespace>/<group>), where the group is
// the pod (io.kubernetes.cri.sandbox-id) or the container itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace veil::shim {

inline constexpr const char* kSocketDir = "/run/containerd/s";

// The grouping annotation of a config.json (the pod's sandbox id), or "" when it has none.
std::string group_of(const nlohmann::json& config);
// "unix:///run/containerd/s/<hex>".
std::string socket_address(const std::string& containerd_address, const std::string& ns,
                           const std::string& group);

}  // namespace veil::shim
