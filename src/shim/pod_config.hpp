// A pod container's config.json for the guest: microvm::guest_config (rootfs, binds carried,
// host paths gone), then what makes it one of the pod's containers in the shared guest — its
// own rootfs and bind directory, the pod's /dev/shm and volumes, and the pod's IPC and UTS (and,
// when Kubernetes shares it, PID) namespaces, joined through the sandbox's init in the guest.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::shim {

struct PodGuestConfig {
  nlohmann::json request;  // the agent's create request: id, config, files, pod_dirs
  std::string netns;       // the network namespace path of the original config
  std::vector<std::string> warnings;
};

// proc: the agent's id for the container's init; sandbox_pid: the sandbox init's pid in the
// guest (0 when this is the sandbox).
Result<PodGuestConfig> pod_guest_config(const std::string& id, const nlohmann::json& config,
                                        uint32_t proc, int sandbox_pid);

}  // namespace veil::shim
