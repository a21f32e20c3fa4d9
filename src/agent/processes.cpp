#include "agent/processes.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

#include "base/file.hpp"
#include "base/packet.hpp"
#include "base/strings.hpp"
#include "linux/cgroup_stats.hpp"
#include "linux/secrets_mount.hpp"
#include "runtime/exec.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/state.hpp"

namespace veil::agent {
namespace {

struct Pipes {
  int in[2], out[2], err[2];
};

Result<Pipes> make_pipes() {
  Pipes p{};
  if (::pipe2(p.in, O_CLOEXEC) || ::pipe2(p.out, O_CLOEXEC) || ::pipe2(p.err, O_CLOEXEC))
    return fail_errno("pipe");
  return p;
}

// In the child: the pipes become stdio, `keep` moves to 3, 4, … and every other fd is closed.
// The children never exec, so O_CLOEXEC does not help: an inherited write end of another
// process's stdin (or of its own) would keep that pipe from ever reaching EOF.
void take_stdio(const Pipes& p, std::initializer_list<int*> keep = {}) {
  ::dup2(p.in[0], 0);
  ::dup2(p.out[1], 1);
  ::dup2(p.err[1], 2);
  int next = 100;
  for (int* fd : keep) *fd = ::fcntl(*fd, F_DUPFD_CLOEXEC, next++);
  int target = 3;
  for (int* fd : keep) {
    ::dup3(*fd, target, O_CLOEXEC);
    *fd = target++;
  }
  ::syscall(SYS_close_range, target, ~0U, 0);
}

void keep_parent_ends(Proc& pr, const Pipes& p) {
  ::close(p.in[0]);
  ::close(p.out[1]);
  ::close(p.err[1]);
  pr.in.reset(p.in[1]);
  pr.out.reset(p.out[0]);
  pr.err.reset(p.err[0]);
  for (int fd : {p.in[1], p.out[0], p.err[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
}

// Ends the calling process the way `status` ended the container: same code, or same signal.
[[noreturn]] void mirror(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    ::signal(sig, SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    ::kill(::getpid(), sig);
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 255);
}

[[noreturn]] void keeper(const std::string& id, const std::string& bundle,
                         const std::string& guest_guard, const std::vector<Secret>& secrets,
                         int status_fd, int start_fd) {
  runtime::Globals g;
  g.root = kGuestRoot;
  runtime::CreateOptions opts;
  opts.bundle = bundle;
  opts.guest_guard = guest_guard;
  // Made here, after the keeper's descriptors were settled (take_stdio closes the others).
  std::vector<secrets_mount::SecretFile> files;
  for (const auto& s : secrets) {
    auto fd = secrets_mount::sealed_memfd(s.data);
    if (!fd) {
      (void)send_packet(status_fd, "error: secrets: " + fd.error().str());
      ::_exit(1);
    }
    files.push_back({s.name, std::move(*fd), s.data.size()});
  }
  opts.guest_secrets = &files;
  // process.terminal: the guest's veil hands the pty master to us (a foreground create), and we
  // pass it on to the agent with the pid.
  Fd master;
  auto pid = runtime::create(g, id, opts, &master);
  if (!pid) {
    (void)send_packet(status_fd, "error: " + pid.error().str());
    ::_exit(1);
  }
  (void)send_packet(status_fd, strprintf("pid %d\n", *pid), master.get());
  master.reset();
  ::close(status_fd);
  char b;
  if (::read(start_fd, &b, 1) != 1) {  // the agent gave up on this container
    (void)runtime::remove(g, id, true);
    ::_exit(1);
  }
  if (auto r = runtime::start(g, id); !r) {
    (void)runtime::remove(g, id, true);
    ::_exit(255);
  }
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The kernel's OOM killer ended it? Asked before its cgroup goes (the agent reports it).
  if (auto dir = runtime::StateStore(g.root).open(id, false); dir)
    if (auto st = dir->load(); st)
      for (const auto& d : st->cgroup_dirs) {
        auto ev = read_file(d + "/memory.events");
        if (ev && cgroups::parse_flat_keyed(*ev)["oom_kill"] > 0)
          (void)write_file_atomic(oom_marker(id), "1");
      }
  (void)runtime::remove(g, id, true);
  mirror(status);
}

}  // namespace

Result<Proc> spawn_container(const std::string& id, const std::string& bundle, uint32_t proc_id,
                             const std::string& guest_guard, const std::vector<Secret>& secrets) {
  auto p = VEIL_TRY(make_pipes());
  int st[2], go[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, st) || ::pipe2(go, O_CLOEXEC))
    return fail_errno("pipe");
  pid_t child = ::fork();
  if (child < 0) return fail_errno("fork the container's keeper");
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int status_fd = st[1], start_fd = go[0];
    take_stdio(p, {&status_fd, &start_fd});
    keeper(id, bundle, guest_guard, secrets, status_fd, start_fd);
  }
  ::close(st[1]);
  ::close(go[0]);
  Proc pr;
  pr.id = proc_id;
  pr.child = child;
  keep_parent_ends(pr, p);
  pr.status.reset(st[0]);
  pr.start.reset(go[1]);
  return pr;
}

namespace {
void kill_tree(pid_t pid, int sig) {
  auto kids = read_file(strprintf("/proc/%d/task/%d/children", pid, pid));
  if (kids)
    for (const auto& k : split(*kids, ' '))
      if (int child = std::atoi(k.c_str()); child > 0) kill_tree(child, sig);
  ::kill(pid, sig);
}
}  // namespace

void signal_process(const Proc& p, int sig) {
  if (p.guest_pid <= 0) return;
  if (sig == SIGKILL && p.guest_pid == p.child)
    kill_tree(p.guest_pid, sig);
  else
    ::kill(p.guest_pid, sig);
}

Result<Proc> spawn_exec(const std::string& id, uint32_t proc_id, const nlohmann::json& process) {
  std::string file = strprintf("/run/veil-exec-%u.json", proc_id);
  VEIL_CHECK(write_file_atomic(file, process.dump()));
  auto p = VEIL_TRY(make_pipes());
  pid_t child = ::fork();
  if (child < 0) return fail_errno("fork an exec");
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    take_stdio(p);
    runtime::Globals g;
    g.root = kGuestRoot;
    runtime::ExecOptions o;
    o.process_file = file;
    auto code = runtime::exec(g, id, o);
    ::unlink(file.c_str());
    if (!code) {
      std::string msg = "veil exec: " + code.error().str() + "\n";
      (void)!::write(2, msg.data(), msg.size());
      ::_exit(255);
    }
    ::_exit(*code);
  }
  Proc pr;
  pr.id = proc_id;
  pr.child = child;
  pr.guest_pid = child;
  keep_parent_ends(pr, p);
  return pr;
}

}  // namespace veil::agent
