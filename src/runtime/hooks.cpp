#include "runtime/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "base/fd.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "oci/json_path.hpp"

namespace veil::hooks {

namespace {

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The tail of one output stream.
struct Capture {
  Fd fd;
  std::string data;
  bool truncated = false;

  // Reads what is available; false at EOF or on error (the fd is then closed).
  bool read_some() {
    char buf[4096];
    for (int i = 0; i < 64; ++i) {  // bounded: a writer that never stops cannot keep us here
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        data.append(buf, static_cast<size_t>(n));
        if (data.size() > 2 * kOutputLimit) {
          data.erase(0, data.size() - kOutputLimit);
          truncated = true;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      fd.reset();  // EOF or error
      return false;
    }
    return true;
  }

  // "…<last bytes>" without trailing whitespace.
  std::string text() const {
    std::string s = data;
    if (s.size() > kOutputLimit) {
      s.erase(0, s.size() - kOutputLimit);
    }
    while (!s.empty() &&
           (s.back() == '\n' || s.back() == ' ' || s.back() == '\r' || s.back() == '\t'))
      s.pop_back();
    if ((truncated || data.size() > kOutputLimit) && !s.empty()) s = "..." + s;
    return s;
  }
};

Result<std::pair<Fd, Fd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail_errno("pipe2");
  Fd r(p[0]), w(p[1]);
  int fl = ::fcntl(r.get(), F_GETFL);
  if (fl < 0 || ::fcntl(r.get(), F_SETFL, fl | O_NONBLOCK) != 0) return fail_errno("fcntl");
  return std::pair<Fd, Fd>(std::move(r), std::move(w));
}

// The state JSON as a sealed, rewound memfd: the hook reads it at its own pace (or not at all)
// without the runtime blocking on a pipe or getting SIGPIPE.
Result<Fd> state_memfd(const std::string& state_json) {
  Fd fd(static_cast<int>(
      ::syscall(SYS_memfd_create, "veil-hook-state", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  if (!fd) return fail_errno("memfd_create");
  size_t done = 0;
  while (done < state_json.size()) {
    ssize_t n = ::write(fd.get(), state_json.data() + done, state_json.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("writing the state for the hook");
    }
    done += static_cast<size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return fail_errno("lseek");
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  return fd;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return strprintf("exited with status %d", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return abbrev ? strprintf("killed by signal %d (SIG%s)", sig, abbrev)
                  : strprintf("killed by signal %d", sig);
  }
  return strprintf("ended with wait status 0x%x", status);
}

std::string with_output(std::string msg, const Capture& out, const Capture& err) {
  std::string e = err.text(), o = out.text();
  if (!e.empty()) msg += "; stderr: " + oci::json_quote(e);
  if (!o.empty()) msg += "; stdout: " + oci::json_quote(o);
  return msg;
}

// waitpid without EINTR; false if the child cannot be waited for (e.g. SIGCHLD ignored).
bool reap(pid_t pid, int* status, int flags, bool* exited) {
  for (;;) {
    pid_t r = ::waitpid(pid, status, flags);
    if (r == pid) {
      *exited = true;
      return true;
    }
    if (r == 0) {
      *exited = false;
      return true;
    }
    if (errno == EINTR) continue;
    *exited = true;  // ECHILD: someone else reaped it (SIGCHLD ignored); status unknown
    return false;
  }
}

}  // namespace

Result<> run_one(const oci::Hook& hook, const std::string& state_json, const char* phase,
                 size_t index) {
  const std::string who = strprintf("hooks.%s[%zu] ", phase, index) + oci::json_quote(hook.path);

  // argv: args as given (args[0] is argv[0]); none → {path}. envp: exactly hook.env.
  std::vector<char*> argv, envp;
  if (hook.args.empty()) {
    argv.push_back(const_cast<char*>(hook.path.c_str()));
  } else {
    for (const auto& a : hook.args) argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  for (const auto& e : hook.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  auto in = state_memfd(state_json);
  if (!in) return std::unexpected(std::move(in.error()).wrap(who));
  auto out_pipe = make_pipe();
  if (!out_pipe) return std::unexpected(std::move(out_pipe.error()).wrap(who));
  auto err_pipe = make_pipe();
  if (!err_pipe) return std::unexpected(std::move(err_pipe.error()).wrap(who));
  Capture out{std::move(out_pipe->first)}, err{std::move(err_pipe->first)};
  Fd out_w = std::move(out_pipe->second), err_w = std::move(err_pipe->second);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in->get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // e.g. --preserve-fds must not reach hooks
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);    // veil may block signals it forwards
  posix_spawnattr_setsigdefault(&attr, &all);  // and ignore SIGPIPE
  posix_spawnattr_setpgroup(&attr, 0);         // own group: a timeout kills its children too
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, hook.path.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  out_w.reset();
  err_w.reset();
  in->reset();
  if (rc != 0) return std::unexpected(Error{who + ": cannot run the hook", rc});

  const int64_t timeout_ms = hook.timeout ? static_cast<int64_t>(*hook.timeout) * 1000 : -1;
  const int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
  // A pidfd tells poll() when the hook exits even if a background child keeps its pipes open.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  int status = 0;
  bool exited = false, reaped_ok = true, timed_out = false;
  while (!exited) {
    pollfd pfds[3];
    nfds_t n = 0;
    if (out.fd) pfds[n++] = {out.fd.get(), POLLIN, 0};
    if (err.fd) pfds[n++] = {err.fd.get(), POLLIN, 0};
    if (pidfd) pfds[n++] = {pidfd.get(), POLLIN, 0};
    int wait_ms = pidfd ? -1 : 20;
    if (deadline >= 0) {
      int64_t left = deadline - now_ms();
      if (left < 0) left = 0;
      if (wait_ms < 0 || left < wait_ms) wait_ms = static_cast<int>(left);
    }
    int pr = ::poll(pfds, n, wait_ms);
    if (pr < 0 && errno != EINTR) {
      int e = errno;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      reap(pid, &status, 0, &exited);
      return std::unexpected(Error{who + ": poll", e});
    }
    if (out.fd) out.read_some();
    if (err.fd) err.read_some();
    reaped_ok = reap(pid, &status, WNOHANG, &exited);
    if (exited) break;
    if (deadline >= 0 && now_ms() >= deadline) {
      timed_out = true;
      ::kill(-pid, SIGKILL);  // the hook's process group: the hook and what it started
      ::kill(pid, SIGKILL);   // in case it left the group
      reaped_ok = reap(pid, &status, 0, &exited);
      break;
    }
  }
  // What the hook wrote just before exiting (not waiting for EOF: background children may hold
  // the pipes).
  if (out.fd) out.read_some();
  if (err.fd) err.read_some();

  if (timed_out)
    return fail(
        with_output(who + strprintf(": timed out after %d s (killed)", *hook.timeout), out, err));
  if (!reaped_ok) {
    log::warn(who + ": exit status unknown (SIGCHLD is ignored); assuming success");
    return {};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    log::debug(who + ": ok");
    return {};
  }
  return fail(with_output(who + ": " + describe_status(status), out, err));
}

Result<> run(const std::vector<oci::Hook>& hooks, const std::string& state_json,
             const char* phase) {
  for (size_t i = 0; i < hooks.size(); ++i) VEIL_CHECK(run_one(hooks[i], state_json, phase, i));
  return {};
}

size_t run_all_logged(const std::vector<oci::Hook>& hooks, const std::string& state_json,
                      const char* phase) {
  size_t failed = 0;
  for (size_t i = 0; i < hooks.size(); ++i) {
    auto r = run_one(hooks[i], state_json, phase, i);
    if (!r) {
      ++failed;
      log::warn(r.error().str());
    }
  }
  return failed;
}

}  // namespace veil::hooks
