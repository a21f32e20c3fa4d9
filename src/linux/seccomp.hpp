// linux.seccomp: the whole OCI seccomp object compiled with libseccomp (linked statically), loaded
// into the container process, and — for SCMP_ACT_NOTIFY — the notify fd handed to the seccomp agent
// listening on listenerPath, with the same message runc sends.
//
// How the runtime uses it (runtime/process.hpp has the order and why):
//   1. veil create, before anything is created (right after parsing config.json): compile(). Every
//      validation error names the JSON path; the compiled filter is plain memory, so it travels
//      into the forked init stages with fork()/clone().
//   2. In the container process, load(): with noNewPrivileges right before execve, without it
//      before the identity switch (the kernel wants CAP_SYS_ADMIN).
//   3. SCMP_ACT_NOTIFY: the process announces the fd number the listener will get, then loads;
//      the parent copies the fd with fd_from_process() once /proc/<pid>/fd/<n> is the listener
//      and hands it to the agent with send_notify_fd() (runc's message). Nothing of the process
//      has to pass a notified syscall before the agent has the fd, so any syscall — write, read,
//      execve — may be notified.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::seccomp {

// A validated profile turned into a libseccomp filter context. Move-only; the context is freed with
// the object.
class CompiledFilter {
 public:
  CompiledFilter() = default;
  CompiledFilter(CompiledFilter&& o) noexcept;
  CompiledFilter& operator=(CompiledFilter&& o) noexcept;
  CompiledFilter(const CompiledFilter&) = delete;
  CompiledFilter& operator=(const CompiledFilter&) = delete;
  ~CompiledFilter();

  bool valid() const { return ctx_ != nullptr; }
  // True when at least one rule uses SCMP_ACT_NOTIFY (load() then returns a notify fd).
  bool uses_notify() const { return uses_notify_; }

  // From the profile, for send_notify_fd().
  std::string listener_path;
  std::string listener_metadata;
  // Syscall names that libseccomp does not know on this architecture: skipped, as runc does
  // (the caller may log them at debug level).
  std::vector<std::string> skipped_syscalls;

 private:
  friend Result<CompiledFilter> compile(const nlohmann::json& seccomp_json);
  friend Result<int> load(CompiledFilter& filter);
  void* ctx_ = nullptr;  // scmp_filter_ctx
  bool uses_notify_ = false;
};

// Validates the whole linux.seccomp object and builds the filter. Errors name the JSON path:
//   linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"
// Accepted: defaultAction, defaultErrnoRet, architectures (SCMP_ARCH_*), flags
// (SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW; _WAIT_KILLABLE_RECV only with libseccomp ≥ 2.6),
// listenerPath, listenerMetadata, syscalls[] {names, action, errnoRet, args[] {index, value,
// valueTwo, op}}. ERRNO and TRACE without errnoRet return EPERM (as runc). Rules whose action
// equals the default action are dropped (libseccomp refuses them). Does not load anything and has
// no side effects, so it can run in `veil create` before anything is set up.
Result<CompiledFilter> compile(const nlohmann::json& seccomp_json);

// Loads the filter into the calling thread (see the order above). The caller must have set
// PR_SET_NO_NEW_PRIVS or hold CAP_SYS_ADMIN; load() never sets no_new_privs itself. Returns the
// notify fd (O_CLOEXEC) when the profile uses SCMP_ACT_NOTIFY, else -1.
Result<int> load(CompiledFilter& filter);

// Copies fd number `fd` out of process `pid` (pidfd_open + pidfd_getfd; needs ptrace rights over
// pid, which veil create has over its own init). Used by the parent for the notify fd.
Result<Fd> fd_from_process(pid_t pid, int fd);

// Waits (polling, at most timeout_ms) until fd number `fd` of process `pid` is a seccomp listener,
// then copies it (fd_from_process). Fails early, naming it, when the process dies first.
Result<Fd> wait_listener_fd(pid_t pid, int fd, int timeout_ms);

// Connects to the unix stream socket listener_path and sends, in one sendmsg() with `fd` attached
// via SCM_RIGHTS, runc's ContainerProcessState JSON:
//   {"ociVersion":…, "fds":["seccompFd"], "pid":process_pid, "metadata":…, "state":<state>}
// ("metadata" omitted when empty; "pid" omitted when process_pid is 0 and state has no pid).
// `state` is the runtime-spec state object (runtime::State::public_json). Agents written against
// runc read the message into a 4 KiB buffer, so keep annotations small.
Result<> send_notify_fd(const std::string& listener_path, const std::string& metadata,
                        const nlohmann::json& state, int fd, pid_t process_pid = 0);

}  // namespace veil::seccomp
