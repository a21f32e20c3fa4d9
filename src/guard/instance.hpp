// Where one guard instance keeps its things: the run directory (daemon sockets, audit log,
// registry of guarded containers) and the bpffs directory with the pinned programs and maps.
// Defaults serve the host; tests run their own instance through VEIL_GUARD_DIR / VEIL_GUARD_BPFFS.
#pragma once

#include <cstdint>
#include <string>

namespace veil::guard {

struct Instance {
  std::string run_dir = "/run/veil/guard";
  std::string bpffs = "/sys/fs/bpf/veil";
  std::string policy_dir = "/etc/veil/guard";

  // Defaults overridden by VEIL_GUARD_DIR, VEIL_GUARD_BPFFS and VEIL_GUARD_POLICY_DIR.
  static Instance from_env();

  std::string control_socket() const { return run_dir + "/guard.sock"; }
  std::string events_socket() const { return run_dir + "/events.sock"; }
  std::string audit_log() const { return run_dir + "/audit.jsonl"; }
  std::string registry_dir() const { return run_dir + "/containers"; }
  std::string registry_file(uint64_t cgroup_id) const {
    return registry_dir() + "/" + std::to_string(cgroup_id) + ".json";
  }
  std::string pin(const char* name) const { return bpffs + "/" + name; }
};

// The veil-guard binary: $VEIL_GUARD_BIN, else next to this executable, else /usr/local/bin or
// /usr/bin (the path next to this executable when none exists, for the error message).
std::string guard_binary();

}  // namespace veil::guard
