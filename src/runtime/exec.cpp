#include "runtime/exec.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "linux/cgroups.hpp"
#include "linux/proc.hpp"
#include "linux/seccomp.hpp"
#include "runtime/microvm/exec.hpp"
#include "runtime/microvm/handler.hpp"
#include "runtime/process.hpp"
#include "runtime/sync.hpp"
#include "runtime/terminal.hpp"

namespace veil::runtime {
namespace {

struct NsFile {
  const char* name;
  int flag;
};
// The user namespace first (it owns the others); mnt late (it changes our root); pid and time
// only affect children, which is what we want.
constexpr NsFile kNamespaces[] = {{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},
                                  {"uts", CLONE_NEWUTS},   {"net", CLONE_NEWNET},
                                  {"pid", CLONE_NEWPID},   {"cgroup", CLONE_NEWCGROUP},
                                  {"time", CLONE_NEWTIME}, {"mnt", CLONE_NEWNS}};

struct Join {
  int flag;
  Fd fd;
  std::string what;
};

// Namespaces of the container process that differ from ours (setns into our own user namespace
// fails, and joining the others again is pointless).
Result<std::vector<Join>> container_namespaces(pid_t pid) {
  std::vector<Join> out;
  for (const auto& ns : kNamespaces) {
    std::string theirs = "/proc/" + std::to_string(pid) + "/ns/" + ns.name;
    std::string ours = std::string("/proc/self/ns/") + ns.name;
    struct stat a, b;
    if (::stat(theirs.c_str(), &a) != 0) {
      if (errno == ENOENT) continue;  // kernel without this namespace type
      return fail_errno("open " + theirs);
    }
    if (::stat(ours.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    Fd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + theirs);
    out.push_back(Join{ns.flag, std::move(fd), theirs});
  }
  return out;
}

Result<oci::Process> build_process(const State& st, const ExecOptions& o) {
  oci::Process proc;
  if (!o.process_file.empty()) {
    auto text = read_file(o.process_file);
    if (!text) return std::unexpected(text.error().wrap("--process"));
    proc = VEIL_TRY(oci::parse_process_json(*text));
  } else {
    auto spec = VEIL_TRY(oci::load_spec(st.bundle));
    proc = spec.process;
    if (o.args.empty()) return fail("exec: no command given (ARGS or --process)");
    proc.args = o.args;
    proc.terminal = false;
  }
  for (const auto& e : o.env) {
    if (e.find('=') == std::string::npos) return fail("--env " + e + ": expected KEY=value");
    std::string key = e.substr(0, e.find('=') + 1);
    std::erase_if(proc.env, [&](const std::string& x) { return x.starts_with(key); });
    proc.env.push_back(e);
  }
  if (!o.cwd.empty()) proc.cwd = o.cwd;
  if (!o.user.empty()) {
    auto parts = split(o.user, ':');
    char* end = nullptr;
    proc.user.uid = static_cast<uint32_t>(std::strtoul(parts[0].c_str(), &end, 10));
    if (parts[0].empty() || *end) return fail("--user " + o.user + ": expected uid[:gid]");
    if (parts.size() > 1) {
      proc.user.gid = static_cast<uint32_t>(std::strtoul(parts[1].c_str(), &end, 10));
      if (parts[1].empty() || *end) return fail("--user " + o.user + ": expected uid[:gid]");
    }
  }
  if (!o.caps.empty()) {
    if (!proc.capabilities) proc.capabilities = oci::Capabilities{};
    for (const auto& name : o.caps) {
      std::string full = name.starts_with("CAP_") ? name : "CAP_" + name;
      cap_value_t c;
      if (cap_from_name(full.c_str(), &c) != 0)
        return fail("--cap " + name + ": unknown capability");
      // Never inheritable or ambient (CVE-2022-29162): those would pass the capability on to
      // programs a non-root process execs.
      for (auto* set : {&proc.capabilities->bounding, &proc.capabilities->effective,
                        &proc.capabilities->permitted})
        set->push_back(c);
    }
  }
  for (uint32_t g : o.additional_gids) proc.user.additional_gids.push_back(g);
  if (o.no_new_privs) proc.no_new_privileges = true;
  if (o.tty) proc.terminal = true;
  if (proc.terminal && o.console_socket.empty() && o.detach)
    return fail("exec: a terminal with --detach needs --console-socket");
  if (!proc.terminal && !o.console_socket.empty())
    return fail("exec: --console-socket needs --tty (or process.terminal)");
  if (proc.args.empty()) return fail("process.args: must not be empty");
  return proc;
}

// The hierarchy a cgroup directory belongs to: "memory", "cpu,cpuacct", "unified" (hybrid v2),
// or "" on a pure v2 host.
std::string hierarchy_of(const std::string& dir) {
  const std::string root = "/sys/fs/cgroup/";
  // A pure v2 host has one hierarchy mounted at the root itself.
  if (!dir.starts_with(root) || path_exists(root + "cgroup.controllers")) return "";
  std::string rest = dir.substr(root.size());
  return rest.substr(0, rest.find('/'));
}

// --cgroup values applied to the container's directories (runc's exec --cgroup).
Result<std::vector<std::string>> exec_cgroup_dirs(std::vector<std::string> dirs,
                                                  const std::vector<std::string>& specs) {
  for (const auto& spec : specs) {
    auto colon = spec.find(':');
    std::string path = colon == std::string::npos ? spec : spec.substr(colon + 1);
    std::vector<std::string> ctrls;
    if (colon != std::string::npos) ctrls = split(spec.substr(0, colon), ',');
    while (path.starts_with("/")) path.erase(0, 1);
    if (path.empty() || path.find("..") != std::string::npos)
      return fail("--cgroup " + spec + ": expected a sub-cgroup path of the container's cgroup");
    bool matched = false;
    for (auto& d : dirs) {
      if (!ctrls.empty()) {
        auto names = split(hierarchy_of(d), ',');
        bool hit = false;
        for (const auto& c : ctrls) hit |= std::find(names.begin(), names.end(), c) != names.end();
        if (!hit) continue;
      }
      std::string sub = d + "/" + path;
      if (!path_exists(sub)) return fail("--cgroup " + spec + ": " + sub + " does not exist");
      d = sub;
      matched = true;
    }
    if (!matched) return fail("--cgroup " + spec + ": no hierarchy of the container has it");
  }
  return dirs;
}

// What the exec'd process needs, prepared by the parent before the fork.
struct ExecChild {
  std::string id;
  const oci::Process* proc = nullptr;
  int preserve_fds = 0;
  bool new_keyring = true;
  seccomp::CompiledFilter* filter = nullptr;
  GuardPlan* guard = nullptr;
  const cgroups::Cgroup* cgroup = nullptr;
  bool in_v2 = false;
  bool late_cgroup = false;  // the container is paused: the parent moves the process in last
};

[[noreturn]] void exec_stage1(std::vector<Join>& joins, const ExecChild& c, const SyncChannel& ch) {
  auto die = [&](const Error& e) {
    (void)ch.write_msg(MsgType::error, e.err, e.str());
    _exit(1);
  };
  // Non-dumpable until execve (CVE-2019-5736: see linux/sealed_exe.hpp); a process that joins a
  // user namespace stays dumpable (its /proc files would belong to host root).
  bool joins_userns = false;
  for (const auto& j : joins) joins_userns |= j.flag == CLONE_NEWUSER;
  if (!joins_userns) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // The cgroup first, while this process still has the host's credentials and namespaces (a
  // frozen one: the parent moves the process in at the end, see late_cgroup).
  if (!c.late_cgroup)
    if (auto r = c.cgroup->join_self(c.in_v2); !r) die(r.error());
  auto go = ch.recv();
  if (!go || !*go || (*go)->type != MsgType::go) _exit(1);
  for (auto& j : joins)
    if (::setns(j.fd.get(), j.flag) != 0) die(Error{"join " + j.what, errno});
  int gone[2];
  if (::pipe2(gone, O_CLOEXEC) != 0) die(Error{"pipe", errno});
  long pid = ::syscall(SYS_clone, CLONE_PARENT, nullptr, nullptr, nullptr, 0);
  if (pid < 0) die(Error{"clone exec process", errno});
  if (pid == 0) {
    // As in create: our child_pid message reaches the parent before anything of the child's.
    ::close(gone[1]);
    char b;
    while (::read(gone[0], &b, 1) < 0 && errno == EINTR) {
    }
    ::close(gone[0]);
    const oci::Process& proc = *c.proc;
    close_fds_above(c.preserve_fds, {ch.fd(), log::file_fd()});
    if (auto r = reset_signals(); !r) die(r.error());
    if (::setsid() < 0) die(Error{"setsid", errno});
    if (c.new_keyring)
      if (auto r = join_session_keyring(c.id); !r) die(r.error());
    if (proc.terminal) {
      auto master = setup_terminal(proc.console_size, proc.user.uid);
      if (!master) die(master.error());
      if (auto r = ch.send_fd(MsgType::console, master->get()); !r) die(r.error());
    }
    if (c.guard)
      if (auto r = prepare_in_container(*c.guard); !r) die(r.error());
    auto prepared = prepare_process(proc, c.preserve_fds);
    if (!prepared) die(prepared.error());
    if (c.guard) {
      auto fd = load_guard(proc, *c.guard);
      if (!fd) die(fd.error());
      if (*fd >= 0) {
        if (auto r = ch.write_msg(MsgType::guard_fd, *fd); !r) die(r.error());
        auto m = ch.recv();
        if (!m || !*m || (*m)->type != MsgType::guard_done) _exit(1);
        ::close(*fd);
      }
    }
    seccomp::CompiledFilter* filter = c.filter;
    if (filter && filter->uses_notify()) {
      auto fd = load_notify_filter(proc, *filter,
                                   [&](int n) { return ch.write_msg(MsgType::seccomp_fd, n); });
      if (!fd) die(fd.error());
      auto m = ch.recv();
      if (!m || !*m || (*m)->type != MsgType::seccomp_done) _exit(1);
      ::close(*fd);
      filter = nullptr;
    }
    if (c.late_cgroup) {
      // A paused container (--ignore-paused): set up, we ask the parent to move us into the
      // frozen cgroup (from the host's view of it); we freeze there and carry on once the
      // container is resumed.
      if (auto r = ch.write_msg(MsgType::ready); !r) die(r.error());
      auto m = ch.recv();
      if (!m || !*m || (*m)->type != MsgType::go) _exit(1);
    }
    if (auto r = switch_identity(proc, filter); !r) die(r.error());
    // The channel is close-on-exec: the parent sees EOF once execve succeeded.
    exec_now(proc, *prepared, proc.no_new_privileges ? filter : nullptr);
  }
  (void)ch.send(MsgType::child_pid, pid);
  _exit(0);
}

int wait_forwarding(pid_t pid, const sigset_t& fwd) {
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&fwd, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      return 255;
    }
    if (sig != SIGCHLD) {
      ::kill(pid, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t w = ::waitpid(-1, &status, WNOHANG);
      if (w <= 0) break;
      if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
}

}  // namespace

Result<int> exec(const Globals& g, const std::string& id, const ExecOptions& opts) {
  StateStore store(g.root);
  State st;
  bool paused = false;
  std::vector<Join> joins;
  {
    auto dir = VEIL_TRY(store.open(id, false));
    st = VEIL_TRY(dir.load());
    Status s = current_status(st, dir);
    paused = s == Status::paused;
    if (s == Status::paused && !opts.ignore_paused)
      return fail("cannot exec in a paused container (use --ignore-paused to override)");
    if (s != Status::running && s != Status::created && s != Status::paused)
      return fail("cannot exec in container \"" + id + "\": it is " + status_name(s));
    if (st.handler == microvm::kHandlerName) {
      if (paused) return fail("cannot exec in a paused microVM container");
    }
    if (st.handler != microvm::kHandlerName) joins = VEIL_TRY(container_namespaces(st.pid));
  }
  if (st.handler == microvm::kHandlerName) return microvm::exec(g, st, opts);
  auto proc = VEIL_TRY(build_process(st, opts));
  // The container's seccomp profile applies to exec'd processes too.
  std::optional<seccomp::CompiledFilter> filter;
  {
    auto spec = oci::load_spec(st.bundle);
    if (!spec)
      return std::unexpected(spec.error().wrap("exec: reading the container's seccomp profile"));
    if (!spec->linux.seccomp.is_null()) filter = VEIL_TRY(seccomp::compile(spec->linux.seccomp));
  }
  auto guard = VEIL_TRY(plan_guard_for_exec(st, filter && filter->uses_notify()));

  sigset_t fwd, old;
  sigemptyset(&fwd);
  for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD})
    sigaddset(&fwd, s);
  if (!opts.detach) sigprocmask(SIG_BLOCK, &fwd, &old);

  auto [parent_end, child_end] = VEIL_TRY(SyncChannel::make_pair(3 + opts.preserve_fds));
  // Stage 1 starts in the container's cgroup (see Cgroup::fork_child), or the sub-cgroup asked.
  auto cgroup =
      cgroups::Cgroup::from_dirs(VEIL_TRY(exec_cgroup_dirs(st.cgroup_dirs, opts.cgroups)));
  ExecChild c;
  c.id = id;
  c.proc = &proc;
  c.preserve_fds = opts.preserve_fds;
  c.filter = filter ? &*filter : nullptr;
  c.guard = guard ? &*guard : nullptr;
  c.cgroup = &cgroup;
  c.late_cgroup = paused;
  pid_t stage1 = c.late_cgroup ? ::fork() : cgroup.fork_child(&c.in_v2);
  if (stage1 < 0) return fail_errno("fork");
  if (stage1 == 0) {
    parent_end.close();
    exec_stage1(joins, c, child_end);
  }
  child_end.close();
  joins.clear();
  pid_t child = -1;
  Fd console;
  auto abort_with = [&](Error e) -> Result<int> {
    kill_setup_children(stage1, child);
    return std::unexpected(std::move(e).wrap("exec in container \"" + id + "\""));
  };
  if (auto r = parent_end.send(MsgType::go); !r) return abort_with(r.error());
  const int bound = setup_timeout_ms();
  const char* step = "joining the container's cgroup and namespaces";
  for (;;) {
    auto m = parent_end.recv_within(bound, step);
    if (!m) return abort_with(m.error());
    if (!*m) break;  // EOF: stage 1 exited and the process exec'd (or died: see below)
    if ((*m)->type == MsgType::ready) {
      // --ignore-paused: into the frozen cgroup now; the process runs on resume.
      if (child <= 0) return abort_with(Error{"exec process pid unknown"});
      if (auto r = cgroup.add(child); !r) return abort_with(r.error());
      if (auto r = parent_end.send(MsgType::go); !r) return abort_with(r.error());
      break;
    }
    switch ((*m)->type) {
      case MsgType::child_pid:
        child = static_cast<pid_t>((*m)->value);
        step = "preparing the process";
        break;
      case MsgType::console:
        if (!(*m)->fd) return abort_with(Error{"pty master missing from the console message"});
        if (!opts.console_socket.empty()) {
          if (auto r = send_to_console_socket(opts.console_socket, (*m)->fd.get()); !r)
            return abort_with(r.error());
        } else {
          console = std::move((*m)->fd);
        }
        break;
      case MsgType::guard_fd: {
        auto fd = seccomp::fd_from_process(child, static_cast<int>((*m)->value));
        if (!fd) return abort_with(fd.error());
        if (auto r = attach_exec_notify(*guard, st, child, std::move(*fd)); !r)
          return abort_with(r.error());
        if (auto r = parent_end.send(MsgType::guard_done); !r) return abort_with(r.error());
        break;
      }
      case MsgType::seccomp_fd: {
        if (!filter || child <= 0) return abort_with(Error{"unexpected seccomp notify fd"});
        auto fd = seccomp::wait_listener_fd(child, static_cast<int>((*m)->value), bound);
        if (!fd) return abort_with(fd.error());
        State now = st;
        now.pid = child;
        if (auto r = seccomp::send_notify_fd(filter->listener_path, filter->listener_metadata,
                                             now.public_json(Status::running), fd->get(), child);
            !r)
          return abort_with(r.error());
        if (auto r = parent_end.send(MsgType::seccomp_done); !r) return abort_with(r.error());
        step = "the identity switch and execve after loading seccomp";
        break;
      }
      case MsgType::error:
        return abort_with(Error{(*m)->text});
      default:
        return abort_with(Error{"unexpected message from the exec process"});
    }
  }
  ::waitpid(stage1, nullptr, 0);
  if (child <= 0) return abort_with(Error{"exec process pid unknown"});
  if (!opts.pid_file.empty())
    if (auto r = write_file_atomic(opts.pid_file, std::to_string(child)); !r)
      return std::unexpected(r.error().wrap("--pid-file"));
  log::debug(strprintf("exec in container \"%s\": process %d started", id.c_str(), child));
  if (opts.detach) return 0;
  int code = console ? relay_and_wait(console.get(), child, fwd) : wait_forwarding(child, fwd);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace veil::runtime
