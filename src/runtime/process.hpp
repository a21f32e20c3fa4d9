// The last steps before a container process (the init or an `exec`) runs its program, shared by
// both paths: they run inside the container's view (after pivot_root or setns).
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "oci/spec.hpp"

namespace veil::runtime {

struct Prepared {
  std::string exe;               // resolved program path
  std::vector<std::string> env;  // process.env plus HOME
};

// Unblocks every signal and restores default dispositions (the caller may have blocked some).
Result<> reset_signals();
// rlimits, cwd, program lookup, umask, uid/gid/groups, capabilities, no_new_privs, and marks every
// fd from 3 + preserve_fds on close-on-exec (fds 3 … 3+preserve_fds-1 are inherited).
Result<Prepared> prepare_process(const oci::Process& proc, int preserve_fds);
// execve; on failure prints the reason to stderr and exits 127 (not found) or 126.
[[noreturn]] void exec_process(const oci::Process& proc, const Prepared& p);

}  // namespace veil::runtime
