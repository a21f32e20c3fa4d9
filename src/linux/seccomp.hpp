// linux.seccomp: the whole OCI seccomp object compiled with libseccomp (linked statically), loaded
// into the container process, and — for SCMP_ACT_NOTIFY — the notify fd handed to the seccomp agent
// listening on listenerPath, with the same message runc sends.
//
// How the runtime uses it (the order matters):
//   1. veil create, before anything is created (right after parsing config.json):
//        auto filter = VEIL_TRY(seccomp::compile(spec.linux.seccomp));   // only if not null
//      Every validation error names the JSON path; nothing needs undoing. The compiled filter is
//      plain memory, so it travels into the forked init stages with fork()/clone().
//   2. Container init (stage 2), once, as late as possible — every syscall the init makes after
//      load() is filtered by the user's profile:
//        - noNewPrivileges true: after PR_SET_NO_NEW_PRIVS and the uid/gid/capability switch, right
//          before the "ready" message / blocking on exec.fifo (the parent must still be there for
//          step 3, so not after the fifo);
//        - noNewPrivileges false: the kernel wants CAP_SYS_ADMIN, so load before the capabilities
//          are dropped (runc does the same), still after mounts/pivot_root.
//        int nfd = VEIL_TRY(seccomp::load(filter));   // -1 unless a rule uses SCMP_ACT_NOTIFY
//      The syscalls after load() (write/send of "ready", read of the fifo, close, execve) must be
//      allowed by the profile; runc has the same constraint. Prefer write(2) over send(2) there.
//   3. Only when nfd >= 0: the init must hand the fd to `veil create` and wait, because the
//      listener socket is a host path that the pivoted init cannot reach:
//        - the init writes the fd *number* to the parent with write(2) (compile() refuses NOTIFY
//          on `write`, like runc, so write(2) can never block on the agent; send()/sendmsg()
//          could be notified),
//        - the parent copies it with `Fd f = VEIL_TRY(seccomp::fd_from_process(init_pid, nfd))`,
//        - then calls seccomp::send_notify_fd(filter.listener_path, filter.listener_metadata,
//          state.public_json(Status::running) /* runc sends "running" */, f.get(), init_pid),
//        - and tells the init to carry on; the init closes nfd (it is O_CLOEXEC anyway).
//      A send failure is a create failure (runc does the same).
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

// Connects to the unix stream socket listener_path and sends, in one sendmsg() with `fd` attached
// via SCM_RIGHTS, runc's ContainerProcessState JSON:
//   {"ociVersion":…, "fds":["seccompFd"], "pid":process_pid, "metadata":…, "state":<state>}
// ("metadata" omitted when empty; "pid" omitted when process_pid is 0 and state has no pid).
// `state` is the runtime-spec state object (runtime::State::public_json). Agents written against
// runc read the message into a 4 KiB buffer, so keep annotations small.
Result<> send_notify_fd(const std::string& listener_path, const std::string& metadata,
                        const nlohmann::json& state, int fd, pid_t process_pid = 0);

}  // namespace veil::seccomp
