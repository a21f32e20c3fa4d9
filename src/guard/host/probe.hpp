// `veil check`: probes this host for every mechanism the guard can use (by trying them, never by
// kernel version) and prints, per protection, which one enforces it here and whether that blocks
// before the action, kills at the action, or only detects.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "guard/instance.hpp"

namespace veil::guard {

struct Probe {
  bool root = false;
  std::string cgroup2;  // mountpoint, empty when none
  bool btf = false;
  bool lsm_listed = false;  // "bpf" in /sys/kernel/security/lsm
  bool lsm_bpf = false;
  std::string lsm_error;
  bool tp_btf = false;
  std::string tp_error;
  bool cgroup_sock = false;
  std::string sock_error;
  bool fanotify_perm = false;
  bool seccomp_notify = false;
  bool mdwe = false;
  bool memfd_noexec = false;
  int landlock_abi = 0;
  uint32_t loaded_mechs = 0;  // 0: not loaded
  bool daemon = false;
};

Probe probe_host(const Instance& inst);
nlohmann::json probe_json(const Probe& p);
std::string probe_table(const Probe& p);

}  // namespace veil::guard
