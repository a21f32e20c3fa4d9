// Device access rules of a container (OCI linux.resources.devices) and how they are enforced:
// the cgroup v1 devices controller where the host mounts one, otherwise a BPF cgroup-device
// program on the container's cgroup v2 directory (cgroup_devices_bpf.hpp).
//
// Semantics (both backends): rules apply in order and the last rule that matches decides. A rule
// of type "a" matches every device and resets what came before it (its allow flag becomes the
// default). An allow rule matches a request when it names the device and covers every requested
// access bit; a deny rule when it names the device and shares any bit with the request. Without
// any "a" rule the default is allow (as a fresh v1 child of an unrestricted parent).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/cgroups.hpp"

namespace veil::cgroups {

// Access bits, numbered as the kernel's BPF_DEVCG_ACC_* (mknod, read, write).
enum : uint8_t { kDevMknod = 1, kDevRead = 2, kDevWrite = 4, kDevAll = 7 };

struct DeviceRule {
  bool allow = false;
  char type = 'a';     // 'a' (all), 'c' or 'b'
  int64_t major = -1;  // -1: any
  int64_t minor = -1;  // -1: any
  uint8_t access = kDevAll;
  bool operator==(const DeviceRule&) const = default;
};

// Parses an OCI device rule array; errors name the JSON path (where[i].field).
Result<std::vector<DeviceRule>> parse_device_rules(const nlohmann::json& arr,
                                                   const std::string& where);
// The inverse (OCI objects), for the state file.
nlohmann::json device_rules_json(const std::vector<DeviceRule>& rules);

// What every container may use whatever its rules say, as with runc: mknod of any node, and
// null, zero, full, random, urandom, tty, console, ptmx and the pty slaves.
std::vector<DeviceRule> standard_device_rules();

// An equivalent, shorter list: everything before the last "a" rule and earlier duplicates go.
std::vector<DeviceRule> compact_device_rules(std::vector<DeviceRule> rules);

// Whether the rules allow `access` to device (type, major, minor): the reference semantics that
// both backends implement (used by tests to check the BPF program).
bool device_rules_allow(const std::vector<DeviceRule>& rules, char type, uint32_t major,
                        uint32_t minor, uint8_t access);

// v1 syntax: "c 1:3 rwm", "b 8:* r", "a".
std::string v1_rule_text(const DeviceRule& r);

enum class DeviceBackend { v1, bpf };
const char* device_backend_name(DeviceBackend b);

// The backend for this host: the v1 devices controller when mounted, else a BPF program on the
// cgroup v2 directory. VEIL_CGROUP_DEVICES=v1|bpf forces one (tests, diagnosis; documented in
// docs/runtime.md): on a hybrid host "bpf" attaches the program in the unified hierarchy, where
// the kernel enforces it in addition to the v1 controller.
Result<DeviceBackend> choose_device_backend(const Layout& layout);

// The container's device state, kept in state.json so that `update` can build on it.
struct DeviceState {
  bool have_backend = false;
  DeviceBackend backend = DeviceBackend::v1;
  std::vector<DeviceRule> rules;   // in force now (compacted, includes the extras below)
  std::vector<DeviceRule> extras;  // the config's linux.devices: allowed after any rules
  nlohmann::json to_json() const;
  static Result<DeviceState> from_json(const nlohmann::json& j);
};

// Enforces `rules` (appended after what `state` already has in force, then the standard rules
// and state.extras) on the container's cgroup `dirs`. v1 writes the new rules to devices.allow /
// devices.deny; bpf replaces the container's device program with one for the whole list.
// On success state.rules holds what is in force.
Result<> apply_device_rules(const Layout& layout, const std::vector<std::string>& dirs,
                            const std::vector<DeviceRule>& rules, DeviceState& state,
                            const std::string& where);

}  // namespace veil::cgroups
