#include "runtime/init.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "linux/credentials.hpp"
#include "linux/mount_sources.hpp"
#include "linux/namespaces.hpp"
#include "linux/rlimits.hpp"
#include "linux/rootfs.hpp"
#include "linux/sysctl.hpp"
#include "runtime/hooks.hpp"
#include "runtime/process.hpp"
#include "runtime/terminal.hpp"

namespace veil::runtime {
namespace {

[[noreturn]] void die(const SyncChannel& ch, const Error& e) {
  (void)ch.send(MsgType::error, e.err, e.str());
  _exit(1);
}

Result<> expect(const SyncChannel& ch, MsgType t) {
  auto m = ch.recv();
  if (!m) return std::unexpected(m.error());
  if (!*m) return fail("parent went away");
  if ((*m)->type != t) return fail("unexpected sync message");
  return {};
}

Result<> set_oom_score_adj(int v) {
  if (auto r = write_file("/proc/self/oom_score_adj", std::to_string(v)); !r) {
    if (r.error().err == EACCES && v < 0)
      return fail(strprintf("process.oomScoreAdj %d: this host does not allow lowering "
                            "oom_score_adj (CAP_SYS_RESOURCE is not in the bounding set); use "
                            "a value >= 0 (containerd: restrict_oom_score_adj = true)",
                            v),
                  EACCES);
    return std::unexpected(r.error().wrap("process.oomScoreAdj"));
  }
  return {};
}

// With a user namespace, the parent opens the bind sources as host root in our mount namespace
// (linux/mount_sources) and sends them; one fd per mount, -1 for the others.
Result<std::vector<int>> receive_mount_sources(const oci::Spec& spec, const SyncChannel& ch) {
  std::vector<int> fds(spec.mounts.size(), -1);
  bool any = false;
  for (const auto& m : spec.mounts) any |= mount_sources::is_bind(m);
  if (!spec.linux.find(oci::NsType::user) || !any) return std::vector<int>{};
  VEIL_CHECK(ch.send(MsgType::mount_sources));
  for (;;) {
    auto m = VEIL_TRY(ch.recv());
    if (!m) return fail("parent went away (mount sources)");
    if (m->type == MsgType::mount_sources_done) return fds;
    if (m->type != MsgType::mount_source_fd || !m->fd || m->value < 0 ||
        static_cast<size_t>(m->value) >= fds.size())
      return fail("unexpected message (mount sources)");
    fds[static_cast<size_t>(m->value)] = m->fd.release();
  }
}

Result<> stage2(const InitConfig& cfg, const SyncChannel& ch) {
  const oci::Spec& spec = *cfg.spec;
  const oci::Process& proc = spec.process;
  std::vector<int> keep{ch.fd(), cfg.fifo_fd, log::file_fd()};
  if (cfg.secrets)
    for (const auto& f : *cfg.secrets) keep.push_back(f.fd.get());
  close_fds_above(cfg.preserve_fds, std::move(keep));
  VEIL_CHECK(reset_signals());
  if (::setsid() < 0) return fail_errno("setsid");
  if (proc.oom_score_adj) VEIL_CHECK(set_oom_score_adj(*proc.oom_score_adj));
  if (cfg.new_keyring) {
    // A fresh session keyring, so containers do not share the caller's keys.
    VEIL_CHECK(join_session_keyring(cfg.id));
  }

  const auto* userns = spec.linux.find(oci::NsType::user);
  auto source_fds = VEIL_TRY(receive_mount_sources(spec, ch));
  rootfs::Context rc;
  rc.spec = &spec;
  rc.rootfs = cfg.rootfs;
  rc.new_userns = userns != nullptr;
  rc.no_pivot = cfg.no_pivot;
  rc.cgroup_layout = cfg.cgroup_layout;
  rc.cgroup_dirs = cfg.cgroup_dirs;
  if (!source_fds.empty()) rc.source_fds = &source_fds;

  // sysctls go through the host's /proc while we still see it; the values land in our namespaces.
  VEIL_CHECK(sysctl::apply(spec.linux.sysctl));
  if (cfg.guard) VEIL_CHECK(early_in_container(*cfg.guard));
  if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
    return fail_errno("set hostname \"" + spec.hostname + "\"");
  if (!spec.domainname.empty() &&
      ::setdomainname(spec.domainname.data(), spec.domainname.size()) != 0)
    return fail_errno("set domainname \"" + spec.domainname + "\"");

  VEIL_CHECK(rootfs::prepare(rc));
  for (int fd : source_fds)
    if (fd >= 0) ::close(fd);  // attached now
  // After the config's mounts (a tmpfs on /run is fine), before pivot_root; in the container's
  // user namespace, so the owner is the process user as the container sees it.
  if (cfg.secrets && !cfg.secrets->empty()) {
    if (auto r = secrets_mount::install(cfg.rootfs, *cfg.secrets, proc.user.uid, proc.user.gid); !r)
      return std::unexpected(r.error().wrap("secrets"));
  }

  // Hooks between the mounts and pivot_root: prestart/createRuntime run by the parent in the
  // runtime's namespaces, then createContainer here in the container's (host paths still visible).
  std::string state_json;
  const auto& hk = spec.hooks;
  bool any_hooks = !hk.prestart.empty() || !hk.create_runtime.empty() ||
                   !hk.create_container.empty() || !hk.start_container.empty();
  if (any_hooks) {
    VEIL_CHECK(ch.send(MsgType::hooks));
    auto m = VEIL_TRY(ch.recv());
    if (!m || m->type != MsgType::hooks_done) return fail("parent went away during hooks");
    state_json = m->text;
    VEIL_CHECK(hooks::run(hk.create_container, state_json, "createContainer"));
  }

  VEIL_CHECK(rootfs::enter(rc));
  VEIL_CHECK(rootfs::finalize(rc));
  if (cfg.guard) VEIL_CHECK(prepare_in_container(*cfg.guard));
  if (proc.terminal) {
    auto master = VEIL_TRY(setup_terminal(proc.console_size, proc.user.uid));
    VEIL_CHECK(ch.send_fd(MsgType::console, master.get()));
  }

  auto prepared = VEIL_TRY(prepare_process(proc, cfg.preserve_fds));
  if (cfg.guard) {
    // The guard daemon answers this filter's notifications; the parent hands it the fd.
    int fd = VEIL_TRY(load_guard(proc, *cfg.guard));
    if (fd >= 0) {
      VEIL_CHECK(ch.write_msg(MsgType::guard_fd, fd));
      auto m = VEIL_TRY(ch.recv());
      if (!m || m->type != MsgType::guard_done) return fail("parent went away (guard notify)");
      ::close(fd);
    }
  }
  seccomp::CompiledFilter* filter = cfg.seccomp;
  if (filter && filter->uses_notify()) {
    // The parent copies the listener fd out of us and gives it to the agent; from the load on,
    // even our own syscalls may be notified, so it must not depend on anything we do after it.
    int fd = VEIL_TRY(load_notify_filter(
        proc, *filter, [&](int n) { return ch.write_msg(MsgType::seccomp_fd, n); }));
    auto m = VEIL_TRY(ch.recv());
    if (!m || m->type != MsgType::seccomp_done) return fail("parent went away (seccomp notify)");
    ::close(fd);
    filter = nullptr;
  }
  VEIL_CHECK(switch_identity(proc, filter));
  if (!proc.no_new_privileges) filter = nullptr;  // loaded by switch_identity

  VEIL_CHECK(ch.write_msg(MsgType::ready));
  char b;
  ssize_t n;
  do {
    n = ::read(cfg.fifo_fd, &b, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1);  // the container was deleted before it started

  if (!hk.start_container.empty()) {
    // The state as `start` sees it: created.
    auto j = nlohmann::json::parse(state_json, nullptr, false);
    if (j.is_object()) j["status"] = "created";
    if (auto r = hooks::run(hk.start_container, j.dump(), "startContainer"); !r) {
      std::string msg = "veil: " + r.error().str() + "\n";
      (void)!::write(STDERR_FILENO, msg.data(), msg.size());
      _exit(1);
    }
  }
  exec_now(proc, prepared, filter);
}

}  // namespace

void run_stage1(const InitConfig& cfg, const SyncChannel& ch) {
  const oci::Spec& spec = *cfg.spec;
  if (cfg.lock_fd >= 0) ::close(cfg.lock_fd);
  // Non-dumpable until the program's execve: a process of the container (e.g. one sharing the pid
  // namespace) cannot open /proc/<pid>/exe, mem or fds of ours (CVE-2019-5736 class; we also run
  // from a sealed copy, linux/sealed_exe). With a user namespace the process must stay dumpable:
  // its own /proc files would belong to host root, which it no longer is (and its root cannot
  // write host files anyway).
  if (!spec.linux.find(oci::NsType::user)) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (cfg.cgroup)
    if (auto r = cfg.cgroup->join_self(cfg.cgroup_in_v2); !r) die(ch, r.error());
  if (auto r = expect(ch, MsgType::go); !r) die(ch, r.error());

  auto joins = namespaces::open_paths(spec.linux.namespaces);
  if (!joins) die(ch, joins.error());

  // The user namespace comes first: every namespace created after it is owned by it.
  for (const auto& j : *joins)
    if (j.type == oci::NsType::user)
      if (auto r = namespaces::join(j); !r) die(ch, r.error());
  const auto* user = spec.linux.find(oci::NsType::user);
  if (user && user->path.empty()) {
    if (::unshare(CLONE_NEWUSER) != 0) die(ch, Error{"create user namespace", errno});
    if (auto r = ch.send(MsgType::id_maps); !r) die(ch, r.error());
    if (auto r = expect(ch, MsgType::id_maps_done); !r) die(ch, r.error());
  }
  if (user) {
    // Become root of the user namespace (when 0 is mapped) so files we create are owned by it.
    ::syscall(SYS_setresgid, 0, 0, 0);
    ::syscall(SYS_setresuid, 0, 0, 0);
  }
  for (const auto& j : *joins)
    if (j.type != oci::NsType::user && j.type != oci::NsType::mount)
      if (auto r = namespaces::join(j); !r) die(ch, r.error());
  for (const auto& j : *joins)
    if (j.type == oci::NsType::mount)
      if (auto r = namespaces::join(j); !r) die(ch, r.error());

  int flags = namespaces::new_flags(spec.linux.namespaces, CLONE_NEWUSER);
  if (flags && ::unshare(flags) != 0) die(ch, Error{"create namespaces", errno});
  if (flags & CLONE_NEWTIME)
    if (auto r = namespaces::write_time_offsets(spec.linux.time_offsets); !r) die(ch, r.error());

  // Stage 2 becomes our sibling: a child of the process that ran `veil create`/`run`. It waits
  // until we are gone, so that our child_pid message always reaches the parent before anything
  // of stage 2 (the parent needs the pid for hooks, the notify fd and `ready`).
  int gone[2];
  if (::pipe2(gone, O_CLOEXEC) != 0) die(ch, Error{"pipe", errno});
  long pid = ::syscall(SYS_clone, CLONE_PARENT, nullptr, nullptr, nullptr, 0);
  if (pid < 0) die(ch, Error{"clone container process", errno});
  if (pid == 0) {
    ::close(gone[1]);
    char c;
    while (::read(gone[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::close(gone[0]);
    auto r = stage2(cfg, ch);
    die(ch, r ? Error{"container init returned"} : r.error());
  }
  (void)ch.send(MsgType::child_pid, pid);
  _exit(0);
}

}  // namespace veil::runtime
