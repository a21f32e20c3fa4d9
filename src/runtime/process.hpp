// The last steps before a container process (the init or an `exec`) runs its program, shared by
// both paths: they run inside the container's view (after pivot_root or setns).
//
// The order is what makes old and strict seccomp profiles work (runc's constraints, no more):
//   1. prepare_process(): rlimits, cwd (refused when it resolves outside the container's root),
//      program lookup, umask, and fd hygiene (every fd from 3 + preserve_fds on close-on-exec) —
//      all before any filter, so a profile without close_range (or with defaultErrnoRet) never
//      sees these calls.
//   2. The guard's filter and Landlock rules (load_guard) and a user profile that uses
//      SCMP_ACT_NOTIFY (load_notify_filter): their fds must reach the parent while it is there.
//   3. switch_identity() and exec_now(): the identity switch and the user's profile in runc's
//      order. With noNewPrivileges the profile is the very last thing before execve (no syscall
//      between; the init's "ready" and exec-fifo wait come before it); without it the kernel
//      wants CAP_SYS_ADMIN to load it, so it comes before the identity switch, whose syscalls —
//      and the init's "ready" message and fifo read — the profile must then allow (as with runc).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/seccomp.hpp"
#include "oci/spec.hpp"
#include "runtime/guard_setup.hpp"

namespace veil::runtime {

struct Prepared {
  std::string exe;               // resolved program path
  std::vector<std::string> env;  // process.env plus HOME
};

// After a failed setup: SIGKILLs and reaps the setup stage and the container process. When the
// latter's pid never arrived (child <= 0) it is still our child (CLONE_PARENT): found among
// ours. Used by create and exec.
void kill_setup_children(pid_t stage1, pid_t child);

// Unblocks every signal and restores default dispositions (the caller may have blocked some).
Result<> reset_signals();

// Joins a new session keyring "_ses.<container id>" (the container's own: an `exec` joins the one
// its init made), so no process of the container sees the caller's session keys. A kernel
// without keys (ENOSYS) is fine; any other failure is an error, as with runc.
Result<> join_session_keyring(const std::string& container_id);

// Closes every fd from 3 + preserve_fds on except `keep`, before the process resolves any path of
// the container: a directory fd leaked in by the caller (or a host fd of ours) must not be usable
// as /proc/self/fd/N for the cwd, the program or a mount (CVE-2024-21626).
void close_fds_above(int preserve_fds, std::vector<int> keep);

// Step 1 (see above). Fds 3 … 3+preserve_fds-1 stay inherited; the others are close-on-exec.
Result<Prepared> prepare_process(const oci::Process& proc, int preserve_fds);

// Step 2, the guard: sets no_new_privs first when the process asks for it, then loads the guard's
// filter, MDWE and Landlock rules. Returns the guard's notify fd or -1.
Result<int> load_guard(const oci::Process& proc, GuardPlan& guard);

// Step 2, a user profile with SCMP_ACT_NOTIFY. `announce(n)` is called with the fd number the
// listener fd will get before the filter is loaded (the parent then copies it out of this process
// with pidfd_getfd, so nothing of ours has to get past a notified syscall before the listener has
// it). Returns the notify fd.
Result<int> load_notify_filter(const oci::Process& proc, seccomp::CompiledFilter& filter,
                               const std::function<Result<>(int)>& announce);

// Step 3a: without noNewPrivileges, the user's filter (unless `filter` is null: already loaded or
// none), then uid/gid/groups and the capability sets.
Result<> switch_identity(const oci::Process& proc, seccomp::CompiledFilter* filter);
// Step 3b: with noNewPrivileges, no_new_privs and the user's filter, then execve — no other
// syscall after the filter. On failure prints the reason to stderr and exits 1 (127/126 when
// execve fails).
[[noreturn]] void exec_now(const oci::Process& proc, const Prepared& p,
                           seccomp::CompiledFilter* filter);

}  // namespace veil::runtime
