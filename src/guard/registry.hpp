// Registration of a container with the guard: its compiled policy goes into the pinned BPF maps
// under its cgroup v2 id (raw bpf() syscalls, no libbpf), and a registry file under the run
// directory tells the daemon (also after a restart) which container a cgroup id is.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "guard/instance.hpp"
#include "guard/spec.hpp"

struct vg_policy;

namespace veil::guard {

struct ContainerInfo {
  std::string id;
  uint64_t cgroup_id = 0;
  pid_t pid = 0;
  uint64_t pid_start_time = 0;
  uint64_t created_ns = 0;         // CLOCK_REALTIME_COARSE: files changed from here on are drift
  std::vector<uint32_t> shm_devs;  // kernel dev_t of the container's /dev/shm
  // The registry file's content: these fields plus "spec".
  nlohmann::json to_json(const Spec& spec) const;
  static ContainerInfo from_json(const nlohmann::json& j);
};

// What a container put into the maps, kept in its state so delete removes exactly that.
struct Registration {
  uint64_t cgroup_id = 0;
  std::vector<std::string> names;  // keys added to the names map
  bool approved = false;           // exec allow list: the daemon adds inodes to `approved`
  nlohmann::json to_json() const;
  static Registration from_json(const nlohmann::json& j);
};

// The kernel's policy record for a spec.
void encode_policy(const Spec& spec, const ContainerInfo& c, vg_policy* out);

// The mechanism bits (VG_MECHS_*) of the loaded programs; an error naming what to do when the
// guard is not loaded or was loaded by another veil version.
Result<uint32_t> loaded_mechanisms(const Instance& inst);

// cgroup v2 id of a cgroup2 directory (its inode number).
Result<uint64_t> cgroup_id(const std::string& v2_dir);
// Kernel dev_t (major << 20 | minor) of the filesystem holding path.
Result<uint32_t> kernel_dev(const std::string& path);
// CLOCK_REALTIME_COARSE in ns (the clock inode ctimes come from).
uint64_t coarse_now_ns();

// The registry file alone (containers guarded without BPF still need one for the daemon).
Result<> write_registry_file(const Instance& inst, const Spec& spec, const ContainerInfo& c);
Result<Registration> register_container(const Instance& inst, const Spec& spec,
                                        const ContainerInfo& c);
// Removes the map entries and the registry file; what is already gone is fine.
Result<> unregister_container(const Instance& inst, const Registration& r);

}  // namespace veil::guard
