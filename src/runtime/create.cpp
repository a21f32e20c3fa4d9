// `create`: the parent side, as named steps: plan (validate everything), reserve the state
// directory, secrets, exec fifo, cgroup, fork the init stages (init.cpp), drive them over the sync
// channel (create_setup.cpp), then record the container.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <optional>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "linux/cgroup_freezer.hpp"
#include "linux/cgroup_resources.hpp"
#include "linux/cgroups.hpp"
#include "linux/namespaces.hpp"
#include "linux/proc.hpp"
#include "linux/seccomp.hpp"
#include "linux/sysctl.hpp"
#include "runtime/create_setup.hpp"
#include "runtime/guard_setup.hpp"
#include "runtime/hooks.hpp"
#include "runtime/init.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/microvm/handler.hpp"
#include "runtime/process.hpp"
#include "runtime/secrets_fetch.hpp"
#include "runtime/terminal.hpp"

namespace veil::runtime {
namespace {

// Checks that need the whole config, beyond what the parser validates field by field.
Result<> check_spec(const oci::Spec& spec, const CreateOptions& opts, bool foreground) {
  if (!spec.has_process) return fail("process: required to create a container");
  if (!spec.linux.find(oci::NsType::mount))
    return fail("linux.namespaces: a mount namespace is required");
  if ((!spec.hostname.empty()) && !spec.linux.find(oci::NsType::uts))
    return fail("hostname: setting a hostname needs a uts namespace");
  if ((!spec.domainname.empty()) && !spec.linux.find(oci::NsType::uts))
    return fail("domainname: setting a domainname needs a uts namespace");
  VEIL_CHECK(sysctl::validate(spec));
  if (spec.process.terminal && opts.console_socket.empty() && !foreground)
    return fail("process.terminal is true: give --console-socket (or use a foreground `run`)");
  if (!spec.process.terminal && !opts.console_socket.empty())
    return fail("--console-socket needs process.terminal = true");
  if (opts.preserve_fds < 0) return fail("--preserve-fds must not be negative");
  return {};
}

std::string owner_name() {
  uid_t uid = ::geteuid();
  if (auto pw = read_file("/etc/passwd")) {
    size_t pos = 0;
    while (pos < pw->size()) {
      size_t end = pw->find('\n', pos);
      if (end == std::string::npos) end = pw->size();
      std::string line = pw->substr(pos, end - pos);
      pos = end + 1;
      size_t a = line.find(':'), b = line.find(':', a + 1), c = line.find(':', b + 1);
      if (c == std::string::npos) continue;
      if (line.substr(b + 1, c - b - 1) == std::to_string(uid)) return line.substr(0, a);
    }
  }
  return std::to_string(uid);
}

std::string absolute(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  return p;
}

// Everything decided before anything exists: a bad config fails here and leaves nothing.
struct Plan {
  std::string bundle, rootfs, config_text;
  oci::Spec spec;
  std::optional<seccomp::CompiledFilter> filter;
  std::optional<GuardPlan> guard;
  cgroups::Layout layout;
  bool microvm = false;
};

Result<Plan> plan_container(const Globals& g, const CreateOptions& opts, bool foreground) {
  if (g.systemd_cgroup && !path_exists("/run/systemd/system"))
    return fail(
        "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); "
        "run without --systemd-cgroup to use the cgroupfs driver");
  Plan p;
  p.bundle = absolute(opts.bundle);
  struct stat bst;
  if (::stat(p.bundle.c_str(), &bst) != 0 || !S_ISDIR(bst.st_mode))
    return fail("bundle " + opts.bundle + ": not a directory");
  // Read once: the text parsed here is also what gets measured when secrets are requested.
  p.config_text = VEIL_TRY(read_file(p.bundle + "/config.json"));
  p.spec = VEIL_TRY(oci::parse_spec(p.config_text));
  VEIL_CHECK(check_spec(p.spec, opts, foreground));
  if (!p.spec.linux.seccomp.is_null()) p.filter = VEIL_TRY(seccomp::compile(p.spec.linux.seccomp));
  // A microVM's guard is planned by its handler (the guest enforces it).
  p.microvm = VEIL_TRY(microvm::wanted(g, p.spec.annotations));
  // A bad guard policy fails here, before anything exists.
  bool oci_notify = p.filter && p.filter->uses_notify();
  if (!opts.guest_guard.empty())
    p.guard = VEIL_TRY(plan_guest_guard(opts.guest_guard, oci_notify));
  else if (!p.microvm)
    p.guard = VEIL_TRY(plan_guard(p.spec, oci_notify));
  p.rootfs =
      p.spec.root.path.starts_with("/") ? p.spec.root.path : p.bundle + "/" + p.spec.root.path;
  struct stat rst;
  if (::stat(p.rootfs.c_str(), &rst) != 0 || !S_ISDIR(rst.st_mode))
    return fail("root.path: " + p.rootfs + " is not a directory");
  p.rootfs = absolute(p.rootfs);
  p.layout = VEIL_TRY(cgroups::probe());
  return p;
}

State initial_state(const Plan& p, const std::string& id, const cgroups::Cgroup& cgroup) {
  State st;
  st.oci_version = p.spec.oci_version;
  st.id = id;
  st.bundle = p.bundle;
  st.rootfs = p.rootfs;
  st.created = log::rfc3339_now();
  st.owner = owner_name();
  st.annotations = p.spec.annotations;
  st.creating = true;
  st.cgroup_dirs = cgroup.dirs();
  st.poststart = p.spec.hooks.poststart;
  st.poststop = p.spec.hooks.poststop;
  return st;
}

// The fifo `start` writes to; the container process blocks reading it. Kept above the fds the
// container inherits.
Result<Fd> make_exec_fifo(const ContainerDir& dir, int min_fd) {
  if (::mkfifo(dir.fifo_path().c_str(), 0600) != 0) return fail_errno("create exec fifo");
  Fd f(::open(dir.fifo_path().c_str(), O_RDWR | O_CLOEXEC));
  if (!f) return fail_errno("open exec fifo");
  Fd fifo(::fcntl(f.get(), F_DUPFD_CLOEXEC, min_fd));
  if (!fifo) return fail_errno("dup exec fifo");
  return fifo;
}

// A cgroup that is frozen (itself or through an ancestor) would stop the container process the
// moment it enters: refuse it, as runc does, instead of hanging.
Result<> check_not_frozen(const cgroups::Cgroup& cgroup) {
  if (cgroups::any_frozen(cgroup.dirs()))
    return fail("cgroup is frozen: " + cgroup.dirs().front() +
                " (thaw it, or use another linux.cgroupsPath)");
  return {};
}

// Everything a failing create must undo, in reverse order of acquisition.
struct Rollback {
  ContainerDir* dir = nullptr;
  cgroups::Cgroup* cgroup = nullptr;
  pid_t stage1 = -1;
  const pid_t* stage2 = nullptr;
  std::optional<State> guarded;  // registered with the guard (a copy: outlives the caller's)
  bool armed = true;
  ~Rollback() {
    if (!armed) return;
    if (guarded) detach_guard(*guarded);
    if (stage1 > 0) kill_setup_children(stage1, stage2 ? *stage2 : -1);
    if (cgroup) (void)cgroup->destroy();
    if (dir) (void)dir->remove();
  }
};

}  // namespace

Result<pid_t> create(const Globals& g, const std::string& id, const CreateOptions& opts,
                     Fd* console_out) {
  VEIL_CHECK(validate_id(id));
  auto plan = VEIL_TRY(plan_container(g, opts, console_out != nullptr));
  if (plan.microvm)
    return microvm::create(g, id, opts, {plan.bundle, plan.rootfs, plan.config_text}, console_out);
  const oci::Spec& spec = plan.spec;
  auto cgroup = cgroups::Cgroup::for_container(plan.layout, spec.linux.cgroups_path, id);
  VEIL_CHECK(check_not_frozen(cgroup));

  StateStore store(g.root);
  auto dir = VEIL_TRY(store.create(id));
  Rollback rb;
  rb.dir = &dir;
  State st = initial_state(plan, id, cgroup);
  VEIL_CHECK(dir.save(st));
  auto fail_with = [&](Error e) -> Result<pid_t> {
    return std::unexpected(std::move(e).wrap("container \"" + id + "\""));
  };

  // org.veil.secrets: attest and fetch before anything else exists (a refusal unwinds the state
  // directory only). Containers without the annotation never get here.
  std::vector<secrets_mount::SecretFile> secrets;
  if (wants_secrets(spec.annotations)) {
    auto got = fetch_secrets(plan.bundle, plan.config_text, plan.rootfs);
    if (!got)
      return fail_with(
          std::move(got.error()).wrap(std::string("secrets (") + kSecretsAnnotation + ")"));
    secrets = std::move(*got);
  } else if (opts.guest_secrets && !opts.guest_secrets->empty()) {
    // In a microVM guest: fetched by the host's veil (microvm/create.cpp), handed over here.
    Fd root(::open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return fail_with(Error{"secrets: open the rootfs " + plan.rootfs, errno});
    if (auto r = secrets_mount::ensure_mountpoint(root.get()); !r) return fail_with(r.error());
    secrets = std::move(*opts.guest_secrets);
  }

  const int min_fd = 3 + opts.preserve_fds;
  Fd fifo = VEIL_TRY(make_exec_fifo(dir, min_fd));
  // A cgroup shared with other processes (a pre-existing cgroupsPath): allowed, as with runc,
  // but said, since pause/kill --all/delete then reach those processes too. (A directory we make
  // now is empty: no need to read it on the hot path.)
  bool preexisting = false;
  for (const auto& d : cgroup.dirs()) preexisting |= path_exists(d);
  VEIL_CHECK(cgroup.create());
  rb.cgroup = &cgroup;
  if (auto others = preexisting ? cgroup.pids() : std::vector<pid_t>{}; !others.empty())
    log::warn(strprintf("container's cgroup is not empty: %zu process(es) found", others.size()));
  log::debug("container \"" + id + "\": cgroup " + cgroup.dirs().front() + ", bundle " +
             plan.bundle);
  // Only the standard devices (cgroups::standard_device_rules) are allowed whatever
  // linux.resources.devices says; the nodes in linux.devices get no implicit rule, so a deny in
  // the config holds for them too (runc does the same; CRI and Podman add allow rules for the
  // devices they pass).
  VEIL_CHECK(cgroups::apply_resources(plan.layout, cgroup.dirs(), spec.linux.resources,
                                      "linux.resources", &st.devices));

  auto [parent_end, child_end] = VEIL_TRY(SyncChannel::make_pair(min_fd));
  InitConfig cfg;
  cfg.spec = &spec;
  cfg.id = id;
  cfg.rootfs = plan.rootfs;
  cfg.no_pivot = opts.no_pivot;
  cfg.new_keyring = !opts.no_new_keyring;
  cfg.preserve_fds = opts.preserve_fds;
  cfg.fifo_fd = fifo.get();
  cfg.lock_fd = dir.lock_fd();
  cfg.seccomp = plan.filter ? &*plan.filter : nullptr;
  cfg.cgroup_layout = &plan.layout;
  cfg.cgroup_dirs = cgroup.dirs();
  cfg.guard = plan.guard ? &*plan.guard : nullptr;
  cfg.secrets = &secrets;
  cfg.cgroup = &cgroup;

  // Stage 1 starts in the container's cgroup (see Cgroup::fork_child).
  pid_t stage1 = cgroup.fork_child(&cfg.cgroup_in_v2);
  if (stage1 < 0) return fail_errno("fork");
  if (stage1 == 0) {
    parent_end.close();
    run_stage1(cfg, child_end);
  }
  child_end.close();
  fifo.reset();

  SetupDialogue d;
  d.spec = &spec;
  d.opts = &opts;
  d.state = &st;
  d.filter = cfg.seccomp;
  d.stage1 = stage1;
  d.console_out = console_out;
  rb.stage1 = stage1;
  rb.stage2 = &d.stage2;
  if (auto r = parent_end.send(MsgType::go); !r) return fail_with(r.error());
  if (auto r = drive_setup(parent_end, d); !r) return fail_with(r.error());
  // Stage 1 is gone by now (stage 2 waits for that before its first message).
  ::waitpid(stage1, nullptr, 0);
  rb.stage1 = -1;
  pid_t pid = d.stage2;

  auto ps = linux_proc::read_stat(pid);
  if (!ps) {
    kill_setup_children(-1, pid);
    return fail_with(Error{"container process exited during setup"});
  }
  st.pid = pid;
  st.pid_start_time = ps->start_time;
  st.creating = false;
  auto kill_init = [&](Error e) {
    kill_setup_children(-1, pid);
    return fail_with(std::move(e));
  };
  if (plan.guard && plan.guard->in_guest) {
    st.guard = guest_guard_state(*plan.guard);  // for `exec` (the agent did the BPF part)
  } else if (plan.guard) {
    // The process waits for `start`: from this map update on, the kernel guards it.
    if (auto r = attach_guard(*plan.guard, st, std::move(d.guard_notify)); !r)
      return kill_init(r.error());
    rb.guarded = st;
  }
  if (auto r = dir.save(st); !r) return kill_init(r.error());
  if (!opts.pid_file.empty()) {
    if (auto r = write_file_atomic(opts.pid_file, std::to_string(st.pid)); !r)
      return kill_init(r.error().wrap("--pid-file"));
  }
  rb.armed = false;
  log::debug(strprintf("container \"%s\": created, pid %d", id.c_str(), st.pid));
  return st.pid;
}

}  // namespace veil::runtime
