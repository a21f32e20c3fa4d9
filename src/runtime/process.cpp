#include "runtime/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/strings.hpp"
#include "linux/credentials.hpp"
#include "linux/proc.hpp"
#include "linux/rlimits.hpp"
#include "runtime/exec_path.hpp"

namespace veil::runtime {
namespace {

// chdir, then make sure the directory is inside our root: a path through an fd that leaked in
// from the caller (/proc/self/fd/N, CVE-2024-21626) would resolve to a host directory, which the
// kernel reports as "(unreachable)…" (glibc: ENOENT).
Result<> enter_cwd(const std::string& cwd) {
  if (::chdir(cwd.c_str()) != 0) return fail_errno("process.cwd " + cwd);
  char buf[PATH_MAX];
  if (!::getcwd(buf, sizeof buf) || buf[0] != '/')
    return fail("process.cwd " + cwd + ": resolves outside the container's root filesystem", EPERM);
  return {};
}

// Every fd from `first` on gets close-on-exec; 3 … first-1 lose it (they are passed on).
Result<> mark_fds(unsigned first) {
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    // Kernels before 5.11: walk /proc/self/fd.
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return fail_errno("close_range and /proc/self/fd");
    int self = ::dirfd(d);
    while (auto* e = ::readdir(d)) {
      int fd = std::atoi(e->d_name);
      if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == self) continue;
      if (fd >= static_cast<int>(first)) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    ::closedir(d);
  }
  for (int fd = 3; fd < static_cast<int>(first); ++fd) {
    int fl = ::fcntl(fd, F_GETFD);
    if (fl >= 0) ::fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  return {};
}

Result<> set_nnp() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  return {};
}

[[noreturn]] void die(const Error& e) {
  std::string msg = "veil: " + e.str() + "\n";
  (void)!::write(STDERR_FILENO, msg.data(), msg.size());
  _exit(1);
}

}  // namespace

void kill_setup_children(pid_t stage1, pid_t child) {
  std::vector<pid_t> pids;
  for (pid_t p : {child, stage1})
    if (p > 0) pids.push_back(p);
  if (child <= 0)
    for (pid_t p : linux_proc::children_of_self())
      if (p != stage1) pids.push_back(p);
  for (pid_t p : pids) ::kill(p, SIGKILL);
  for (pid_t p : pids) ::waitpid(p, nullptr, 0);
}

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

void close_fds_above(int preserve_fds, std::vector<int> keep) {
  unsigned first = 3U + static_cast<unsigned>(preserve_fds);
  std::sort(keep.begin(), keep.end());
  for (int k : keep) {
    if (k < 0 || static_cast<unsigned>(k) < first) continue;
    if (static_cast<unsigned>(k) > first) ::syscall(SYS_close_range, first, k - 1, 0);
    first = static_cast<unsigned>(k) + 1;
  }
  ::syscall(SYS_close_range, first, ~0U, 0);
}

Result<> join_session_keyring(const std::string& container_id) {
  std::string name = "_ses." + container_id;
  if (::syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name.c_str()) < 0 &&
      errno != ENOSYS)
    return fail_errno("join session keyring " + name);
  return {};
}

Result<Prepared> prepare_process(const oci::Process& proc, int preserve_fds) {
  VEIL_CHECK(rlimits::apply(proc.rlimits));
  VEIL_CHECK(enter_cwd(proc.cwd));
  Prepared p;
  p.exe = VEIL_TRY(find_executable(proc.args[0], proc.env));
  p.env = with_home(proc.env, proc.user.uid);
  ::umask(proc.user.umask ? static_cast<mode_t>(*proc.user.umask) : 022);
  VEIL_CHECK(mark_fds(3U + static_cast<unsigned>(preserve_fds)));
  // Nothing after the user's filter may need the kernel beyond execve (and, without
  // noNewPrivileges, the identity switch): read cap_last_cap now, and keep the allocator from
  // giving memory back (brk/munmap) when libseccomp frees its program after loading it.
  (void)credentials::last_cap();
  ::mallopt(M_TRIM_THRESHOLD, INT_MAX);
  ::mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  return p;
}

Result<int> load_guard(const oci::Process& proc, GuardPlan& guard) {
  if (proc.no_new_privileges) VEIL_CHECK(set_nnp());
  return load_in_container(guard);
}

Result<int> load_notify_filter(const oci::Process& proc, seccomp::CompiledFilter& filter,
                               const std::function<Result<>(int)>& announce) {
  if (proc.no_new_privileges) VEIL_CHECK(set_nnp());
  // The kernel gives the listener the lowest free fd number (this process is single-threaded).
  int probe = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (probe < 0) probe = ::open("/", O_PATH | O_CLOEXEC);
  if (probe < 0) return fail_errno("seccomp notify: find a free fd number");
  ::close(probe);
  VEIL_CHECK(announce(probe));
  int fd = VEIL_TRY(seccomp::load(filter));
  if (fd != probe) return fail(strprintf("seccomp notify: listener fd %d, expected %d", fd, probe));
  return fd;
}

Result<> switch_identity(const oci::Process& proc, seccomp::CompiledFilter* filter) {
  if (filter && filter->valid() && !proc.no_new_privileges) (void)VEIL_TRY(seccomp::load(*filter));
  return credentials::apply(proc.user, proc.capabilities);
}

void exec_now(const oci::Process& proc, const Prepared& p, seccomp::CompiledFilter* filter) {
  // Built before the filter: nothing between it and execve (not even an allocation that could
  // grow the heap).
  std::vector<char*> argv, envp;
  argv.reserve(proc.args.size() + 1);
  envp.reserve(p.env.size() + 1);
  for (const auto& a : proc.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  if (proc.no_new_privileges) {
    if (auto r = set_nnp(); !r) die(r.error());
    if (filter && filter->valid())
      if (auto r = seccomp::load(*filter); !r) die(r.error());
  }
  ::execve(p.exe.c_str(), argv.data(), envp.data());
  int err = errno;
  std::string msg = strprintf("veil: exec %s: %s\n", p.exe.c_str(), strerror(err));
  (void)!::write(STDERR_FILENO, msg.data(), msg.size());
  _exit(err == ENOENT ? 127 : 126);
}

}  // namespace veil::runtime
