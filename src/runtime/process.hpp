// The last steps before a container process (the init or an `exec`) runs its program, shared by
// both paths: they run inside the container's view (after pivot_root or setns).
#pragma once

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
  int notify_fd = -1;            // seccomp notify fd when the profile uses SCMP_ACT_NOTIFY
  int guard_fd = -1;             // the guard filter's notify fd (for the guard daemon)
};

// Unblocks every signal and restores default dispositions (the caller may have blocked some).
Result<> reset_signals();
// rlimits, cwd, program lookup, umask, uid/gid/groups, capabilities, no_new_privs, and marks every
// fd from 3 + preserve_fds on close-on-exec (fds 3 … 3+preserve_fds-1 are inherited).
// A seccomp filter, when given, is loaded as runc does: with noNewPrivileges after the identity
// switch (as late as possible), without it before the capabilities are dropped (loading then
// needs CAP_SYS_ADMIN).
// The guard's filter, MDWE and Landlock rules (when guard is given) are loaded at the same point.
Result<Prepared> prepare_process(const oci::Process& proc, int preserve_fds,
                                 seccomp::CompiledFilter* filter = nullptr,
                                 GuardPlan* guard = nullptr);
// execve; on failure prints the reason to stderr and exits 127 (not found) or 126.
[[noreturn]] void exec_process(const oci::Process& proc, const Prepared& p);

}  // namespace veil::runtime
