// `create`: the parent side. Validates the bundle, reserves the state directory, places the
// container in its cgroup, forks the init stages (init.cpp) and drives them over the sync channel.
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
#include "base/time.hpp"
#include "linux/cgroup_resources.hpp"
#include "linux/cgroups.hpp"
#include "linux/namespaces.hpp"
#include "linux/proc.hpp"
#include "linux/seccomp.hpp"
#include "linux/sysctl.hpp"
#include "runtime/guard_setup.hpp"
#include "runtime/hooks.hpp"
#include "runtime/init.hpp"
#include "runtime/lifecycle.hpp"
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

// Everything a failing create must undo, in reverse order of acquisition.
struct Rollback {
  ContainerDir* dir = nullptr;
  cgroups::Cgroup* cgroup = nullptr;
  pid_t stage1 = -1, stage2 = -1;
  std::optional<State> guarded;  // registered with the guard (a copy: outlives the caller's)
  bool armed = true;
  ~Rollback() {
    if (!armed) return;
    if (guarded) detach_guard(*guarded);
    for (pid_t p : {stage2, stage1}) {
      if (p > 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    }
    if (cgroup) (void)cgroup->destroy();
    if (dir) (void)dir->remove();
  }
};

}  // namespace

Result<pid_t> create(const Globals& g, const std::string& id, const CreateOptions& opts,
                     Fd* console_out) {
  VEIL_CHECK(validate_id(id));
  if (g.systemd_cgroup && !path_exists("/run/systemd/system"))
    return fail(
        "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); "
        "run without --systemd-cgroup to use the cgroupfs driver");
  std::string bundle = absolute(opts.bundle);
  struct stat bst;
  if (::stat(bundle.c_str(), &bst) != 0 || !S_ISDIR(bst.st_mode))
    return fail("bundle " + opts.bundle + ": not a directory");
  // Read once: the text parsed here is also what gets measured when secrets are requested.
  std::string config_text = VEIL_TRY(read_file(bundle + "/config.json"));
  auto spec = oci::parse_spec(config_text);
  if (!spec) return std::unexpected(spec.error());
  VEIL_CHECK(check_spec(*spec, opts, console_out != nullptr));
  std::optional<seccomp::CompiledFilter> filter;
  if (!spec->linux.seccomp.is_null()) filter = VEIL_TRY(seccomp::compile(spec->linux.seccomp));
  // A bad guard policy fails here, before anything exists.
  auto guard = VEIL_TRY(plan_guard(*spec, filter && filter->uses_notify()));
  std::string rootfs =
      spec->root.path.starts_with("/") ? spec->root.path : bundle + "/" + spec->root.path;
  struct stat rst;
  if (::stat(rootfs.c_str(), &rst) != 0 || !S_ISDIR(rst.st_mode))
    return fail("root.path: " + rootfs + " is not a directory");
  rootfs = absolute(rootfs);

  auto layout = cgroups::probe();
  if (!layout) return std::unexpected(layout.error());
  auto cgroup = cgroups::Cgroup::for_container(*layout, spec->linux.cgroups_path, id);

  StateStore store(g.root);
  auto dir = VEIL_TRY(store.create(id));
  Rollback rb;
  rb.dir = &dir;

  State st;
  st.oci_version = spec->oci_version;
  st.id = id;
  st.bundle = bundle;
  st.rootfs = rootfs;
  st.created = log::rfc3339_now();
  st.owner = owner_name();
  st.annotations = spec->annotations;
  st.creating = true;
  st.cgroup_dirs = cgroup.dirs();
  st.poststart = spec->hooks.poststart;
  st.poststop = spec->hooks.poststop;
  VEIL_CHECK(dir.save(st));

  // org.veil.secrets: attest and fetch before anything else exists (a refusal unwinds the state
  // directory only). Containers without the annotation never get here.
  std::vector<secrets_mount::SecretFile> secrets;
  if (wants_secrets(spec->annotations)) {
    auto got = fetch_secrets(bundle, config_text, rootfs);
    if (!got)
      return std::unexpected(
          std::move(got.error())
              .wrap(std::string("container \"") + id + "\": secrets (" + kSecretsAnnotation + ")"));
    secrets = std::move(*got);
  }

  const int min_fd = 3 + opts.preserve_fds;
  if (::mkfifo(dir.fifo_path().c_str(), 0600) != 0) return fail_errno("create exec fifo");
  Fd fifo;
  {
    Fd f(::open(dir.fifo_path().c_str(), O_RDWR | O_CLOEXEC));
    if (!f) return fail_errno("open exec fifo");
    fifo = Fd(::fcntl(f.get(), F_DUPFD_CLOEXEC, min_fd));
    if (!fifo) return fail_errno("dup exec fifo");
  }

  VEIL_CHECK(cgroup.create());
  rb.cgroup = &cgroup;
  // The config's own device nodes stay usable whatever linux.resources.devices says (as runc).
  for (const auto& d : spec->linux.devices)
    if (d.type != 'p')
      st.devices.extras.push_back(
          {true, d.type == 'u' ? 'c' : d.type, d.major, d.minor, cgroups::kDevAll});
  VEIL_CHECK(cgroups::apply_resources(*layout, cgroup.dirs(), spec->linux.resources,
                                      "linux.resources", &st.devices));

  auto [parent_end, child_end] = VEIL_TRY(SyncChannel::make_pair(min_fd));
  InitConfig cfg;
  cfg.spec = &*spec;
  cfg.rootfs = rootfs;
  cfg.no_pivot = opts.no_pivot;
  cfg.new_keyring = !opts.no_new_keyring;
  cfg.preserve_fds = opts.preserve_fds;
  cfg.fifo_fd = fifo.get();
  cfg.lock_fd = dir.lock_fd();
  cfg.seccomp = filter ? &*filter : nullptr;
  cfg.cgroup_layout = &*layout;
  cfg.cgroup_dirs = cgroup.dirs();
  cfg.guard = guard ? &*guard : nullptr;
  Fd guard_notify;
  cfg.secrets = &secrets;
  cfg.cgroup = &cgroup;

  // Stage 1 starts in the container's cgroup (see Cgroup::fork_child).
  pid_t stage1 = cgroup.fork_child(&cfg.cgroup_in_v2);
  if (stage1 < 0) return fail_errno("fork");
  if (stage1 == 0) {
    parent_end.close();
    run_stage1(cfg, child_end);
  }
  rb.stage1 = stage1;
  child_end.close();
  fifo.reset();

  auto fail_with = [&](Error e) -> Result<pid_t> {
    return std::unexpected(std::move(e).wrap("container \"" + id + "\""));
  };
  if (auto r = parent_end.send(MsgType::go); !r) return fail_with(r.error());
  bool ready = false;
  while (!ready) {
    auto m = parent_end.recv();
    if (!m) return fail_with(m.error());
    if (!*m) return fail_with(Error{"container process exited during setup"});
    switch ((*m)->type) {
      case MsgType::id_maps:
        if (auto r = namespaces::write_id_maps(stage1, spec->linux.uid_mappings,
                                               spec->linux.gid_mappings);
            !r)
          return fail_with(r.error());
        if (auto r = parent_end.send(MsgType::id_maps_done); !r) return fail_with(r.error());
        break;
      case MsgType::child_pid:
        rb.stage2 = static_cast<pid_t>((*m)->value);
        break;
      case MsgType::ready:
        ready = true;
        break;
      case MsgType::console: {
        if (!(*m)->fd) return fail_with(Error{"pty master missing from the console message"});
        if (!opts.console_socket.empty()) {
          if (auto r = send_to_console_socket(opts.console_socket, (*m)->fd.get()); !r)
            return fail_with(r.error());
        } else if (console_out) {
          *console_out = std::move((*m)->fd);
        }
        break;
      }
      case MsgType::hooks: {
        // The container's namespaces exist and its mounts are done; pivot_root has not happened.
        State now = st;
        now.pid = rb.stage2;
        std::string state_json = now.public_json(Status::creating).dump();
        if (auto r = hooks::run(spec->hooks.prestart, state_json, "prestart"); !r)
          return fail_with(r.error());
        if (auto r = hooks::run(spec->hooks.create_runtime, state_json, "createRuntime"); !r)
          return fail_with(r.error());
        if (auto r = parent_end.send(MsgType::hooks_done, 0, state_json); !r)
          return fail_with(r.error());
        break;
      }
      case MsgType::seccomp_fd: {
        auto fd = seccomp::fd_from_process(rb.stage2, static_cast<int>((*m)->value));
        if (!fd) return fail_with(fd.error());
        State now = st;
        now.pid = rb.stage2;
        if (auto r =
                seccomp::send_notify_fd(filter->listener_path, filter->listener_metadata,
                                        now.public_json(Status::running), fd->get(), rb.stage2);
            !r)
          return fail_with(r.error());
        if (auto r = parent_end.send(MsgType::seccomp_done); !r) return fail_with(r.error());
        break;
      }
      case MsgType::guard_fd: {
        auto fd = seccomp::fd_from_process(rb.stage2, static_cast<int>((*m)->value));
        if (!fd) return fail_with(fd.error());
        guard_notify = std::move(*fd);
        if (auto r = parent_end.send(MsgType::guard_done); !r) return fail_with(r.error());
        break;
      }
      case MsgType::error:
        return fail_with(Error{(*m)->text});
      default:
        return fail_with(Error{"unexpected message from container process"});
    }
  }
  int status = 0;
  ::waitpid(stage1, &status, 0);
  rb.stage1 = -1;
  if (rb.stage2 <= 0) return fail_with(Error{"container process pid unknown"});

  auto ps = linux_proc::read_stat(rb.stage2);
  if (!ps) return fail_with(Error{"container process exited during setup"});
  st.pid = rb.stage2;
  st.pid_start_time = ps->start_time;
  st.creating = false;
  if (guard) {
    // The process waits for `start`: from this map update on, the kernel guards it.
    if (auto r = attach_guard(*guard, st, std::move(guard_notify)); !r) return fail_with(r.error());
    rb.guarded = st;
  }
  VEIL_CHECK(dir.save(st));
  if (!opts.pid_file.empty()) {
    if (auto r = write_file_atomic(opts.pid_file, std::to_string(st.pid)); !r)
      return fail_with(r.error().wrap("--pid-file"));
  }
  rb.armed = false;
  return st.pid;
}

}  // namespace veil::runtime
