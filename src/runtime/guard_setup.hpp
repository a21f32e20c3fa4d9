// The runtime side of the guard, in the order `create` uses it:
//   1. plan_guard(): when config.json has the annotation org.veil.guard.policy, runs
//      `veil-guard prepare` (policy validation and compilation, first-time BPF load) and decides
//      how each rule is enforced on this host. A bad policy fails create before anything exists.
//   2. In the container init: early_in_container() next to the sysctls (vm.memfd_noexec),
//      prepare_in_container() after pivot_root (Landlock rules are computed from the
//      container's own filesystem), then load_in_container()
//      where the OCI seccomp filter is loaded (seccomp, MDWE, Landlock all need no_new_privs or
//      CAP_SYS_ADMIN).
//   3. attach_guard() in the parent once the init is ready: BPF map entries keyed by the
//      container's cgroup v2 id, the registry file, and registration with the daemon (which gets
//      the seccomp notify fd). From here on the kernel enforces.
//   4. detach_guard() at delete (and on a failed create).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "guard/instance.hpp"
#include "guard/seccomp_rules.hpp"
#include "guard/spec.hpp"
#include "linux/landlock.hpp"
#include "oci/spec.hpp"
#include "runtime/state.hpp"

namespace veil::runtime {

inline constexpr const char* kGuardAnnotation = "org.veil.guard.policy";

struct GuardPlan {
  guard::Instance inst;
  guard::Spec spec;
  uint32_t mechs = 0;          // BPF program set loaded on this host (VG_MECHS_*), 0 = none
  bool daemon = false;         // the daemon answered at create
  bool use_bpf = false;        // register in the BPF maps
  bool landlock_exec = false;  // fallback for drift/fileless without BPF
  std::vector<uint16_t> landlock_ports;  // fallback for egress without BPF (TCP ports)
  bool landlock_net = false;
  int landlock_abi = 0;
  bool in_guest = false;      // plan_guest_guard: nothing to attach from the runtime
  guard::GuardFilter filter;  // built by the parent, loaded in the init
  landlock::Ruleset ruleset;  // computed in the init
};

// `veil-guard prepare --policy ref`: the policy validated and compiled ({"spec", "mechs", …}).
Result<nlohmann::json> compile_guard_policy(const guard::Instance& inst, const std::string& ref);

// nullopt when the container asks for no guard. oci_notify: the OCI profile already has a
// seccomp listener (only one is allowed per process tree, so the guard then goes without).
Result<std::optional<GuardPlan>> plan_guard(const oci::Spec& spec, bool oci_notify);

// In a microVM guest (CreateOptions::guest_guard): the plan for the in-container parts only.
// No daemon runs there (sensitive syscalls are refused by seccomp itself), the agent registers
// the BPF part, and BPF covers drift, fileless and egress (no Landlock fallback).
Result<GuardPlan> plan_guest_guard(const std::string& compiled, bool oci_notify);
// What the container's state keeps of such a plan (for exec; nothing to detach).
nlohmann::json guest_guard_state(const GuardPlan& plan);

// In the container init before pivot_root, in its own pid namespace (vm.memfd_noexec).
Result<> early_in_container(const GuardPlan& plan);
// In the container process after pivot_root, before the identity switch.
Result<> prepare_in_container(GuardPlan& plan);
// Where the seccomp profile is loaded. Returns the guard's notify fd or -1.
Result<int> load_in_container(GuardPlan& plan);

// In the parent once the container process is ready. notify_fd may be invalid.
Result<> attach_guard(GuardPlan& plan, State& st, Fd notify_fd);
// Undoes attach_guard (maps, registry file, daemon); what is gone already is fine.
void detach_guard(const State& st);

// The GuardPlan for a process `veil exec` starts in a guarded container (no BPF work: the
// container's registration covers every process in its cgroup).
Result<std::optional<GuardPlan>> plan_guard_for_exec(const State& st, bool oci_notify);
// Hands an exec'd process's notify fd to the daemon.
Result<> attach_exec_notify(const GuardPlan& plan, const State& st, pid_t pid, Fd notify_fd);

}  // namespace veil::runtime
