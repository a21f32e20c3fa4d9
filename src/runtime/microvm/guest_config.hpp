// The container's config.json as the guest's veil sees it: the rootfs at the agent's overlay,
// no host paths (namespaces to join, bind sources), and the bind-mounted files carried along.
// Also the VM's shape and the host cgroup's resources derived from linux.resources.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "vm/boot.hpp"

namespace veil::runtime::microvm {

inline constexpr const char* kHandlerAnnotation = "org.veil.handler";
inline constexpr const char* kNetworkAnnotation = "org.veil.microvm.network";
// Extra host memory the VMM may use beyond guest RAM (QEMU itself, TCG's translation cache).
inline constexpr int kVmmOverheadMiB = 192;
// Guest RAM beyond the workload's memory limit (kernel, agent, page cache of the rootfs).
inline constexpr int kGuestOverheadMiB = 64;
inline constexpr int kDefaultGuestMiB = 128;
// Bind-mounted files travel with the create request, up to this much in total.
inline constexpr size_t kMaxBindBytes = 1 << 20;

// Writable directory volumes are shared, not copied: virtio-fs (vm/virtiofs.hpp), one device
// each, at most this many (microvm's virtio-mmio slots); the agent mounts them under
// kGuestVolumes/<tag>.
inline constexpr size_t kMaxVolumes = 4;
inline constexpr const char* kGuestVolumes = "/run/veil-volumes";

struct Volume {
  std::string source;  // the host directory
  std::string tag;     // "vol0", "vol1", …
};

struct GuestConfig {
  nlohmann::json config;  // for the guest's veil
  nlohmann::json files;   // [{"path": guest path, "hex": content}] the agent writes first
  std::vector<Volume> volumes;
  std::vector<std::string> warnings;
};

// Fails, naming the field, for what a microVM cannot honour (more writable directory volumes
// than kMaxVolumes, binds of sockets or devices).
Result<GuestConfig> guest_config(const nlohmann::json& config);

// linux.namespaces' network path ("" when the container gets a new one).
std::string network_namespace_path(const nlohmann::json& config);

vm::Shape shape_for(const nlohmann::json& config, const std::string& accel);
// linux.resources for the host cgroup holding the monitor and QEMU.
nlohmann::json host_resources(const nlohmann::json& config, const vm::Shape& shape);

}  // namespace veil::runtime::microvm
