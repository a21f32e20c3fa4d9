#include "runtime/process.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/strings.hpp"
#include "linux/credentials.hpp"
#include "linux/rlimits.hpp"
#include "runtime/exec_path.hpp"

namespace veil::runtime {

Result<> reset_signals() {
  sigset_t all;
  sigemptyset(&all);
  if (sigprocmask(SIG_SETMASK, &all, nullptr) != 0) return fail_errno("sigprocmask");
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    signal(s, SIG_DFL);
  }
  return {};
}

Result<Prepared> prepare_process(const oci::Process& proc, int preserve_fds,
                                 seccomp::CompiledFilter* filter, GuardPlan* guard) {
  VEIL_CHECK(rlimits::apply(proc.rlimits));
  if (::chdir(proc.cwd.c_str()) != 0) return fail_errno("process.cwd " + proc.cwd);
  Prepared p;
  p.exe = VEIL_TRY(find_executable(proc.args[0], proc.env));
  p.env = with_home(proc.env, proc.user.uid);
  ::umask(proc.user.umask ? static_cast<mode_t>(*proc.user.umask) : 022);
  bool have_filter = filter && filter->valid();
  if (have_filter && !proc.no_new_privileges) p.notify_fd = VEIL_TRY(seccomp::load(*filter));
  if (guard && !proc.no_new_privileges) p.guard_fd = VEIL_TRY(load_in_container(*guard));
  VEIL_CHECK(credentials::apply(proc.user, proc.capabilities));
  if (proc.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  if (have_filter && proc.no_new_privileges) p.notify_fd = VEIL_TRY(seccomp::load(*filter));
  if (guard && proc.no_new_privileges) p.guard_fd = VEIL_TRY(load_in_container(*guard));
  // Everything above the preserved range is closed at exec (veil's own fds are all up there).
  unsigned first = 3U + static_cast<unsigned>(preserve_fds);
  for (int* fd : {&p.notify_fd, &p.guard_fd}) {
    if (*fd >= 0 && *fd < static_cast<int>(first)) {
      int moved = ::fcntl(*fd, F_DUPFD_CLOEXEC, static_cast<int>(first));
      if (moved < 0) return fail_errno("dup seccomp notify fd");
      ::close(*fd);
      *fd = moved;
    }
  }
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    return fail_errno("close_range");
  for (int fd = 3; fd < static_cast<int>(first); ++fd) {
    int fl = ::fcntl(fd, F_GETFD);
    if (fl >= 0) ::fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  return p;
}

void exec_process(const oci::Process& proc, const Prepared& p) {
  std::vector<char*> argv, envp;
  for (const auto& a : proc.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ::execve(p.exe.c_str(), argv.data(), envp.data());
  int err = errno;
  std::string msg = strprintf("veil: exec %s: %s\n", p.exe.c_str(), strerror(err));
  (void)!::write(STDERR_FILENO, msg.data(), msg.size());
  _exit(err == ENOENT ? 127 : 126);
}

}  // namespace veil::runtime
