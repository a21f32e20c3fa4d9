// Audit events as JSON: one object per line with time (RFC 3339, ns), container, policy, rule,
// action (blocked | killed | audited), mechanism, pid, ppid, uid, gid, comm, exe, argv, cwd, and
// for network events the remote address, port and protocol.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "guard/daemon/containers.hpp"

struct vg_event;

namespace veil::guard {

struct ProcInfo {
  pid_t pid = 0, ppid = 0;
  uint32_t uid = 0, gid = 0;
  std::string comm, exe, cwd;
  std::vector<std::string> argv;
};
// Best effort from /proc (the process may be gone).
ProcInfo proc_info(pid_t pid);

const char* rule_name(int rule);
const char* action_name(int action);
const char* mechanism_name(int mech);
const char* detail_name(int detail);

// A record with the common fields filled in; the container may be null (then "container" is
// the cgroup id).
nlohmann::json base_event(const Container* c, uint64_t cgroup_id, const char* rule,
                          const char* action, const std::string& mechanism, const ProcInfo& p);

// From a ring-buffer record of the BPF programs.
nlohmann::json from_bpf(const vg_event& e, Containers& containers);

// Boot-time ns (bpf_ktime_get_boot_ns) to RFC 3339.
std::string boot_ns_to_rfc3339(uint64_t boot_ns);

}  // namespace veil::guard
