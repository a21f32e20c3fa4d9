#include "runtime/lifecycle.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "linux/cgroup_freezer.hpp"
#include "linux/cgroup_resources.hpp"
#include "linux/cgroups.hpp"
#include "linux/proc.hpp"
#include "runtime/guard_setup.hpp"
#include "runtime/hooks.hpp"
#include "runtime/microvm/exec_relay.hpp"
#include "runtime/microvm/handler.hpp"
#include "runtime/terminal.hpp"

namespace veil::runtime {
namespace {

void sleep_ms(long ms) {
  struct timespec ts {
    ms / 1000, (ms % 1000) * 1'000'000
  };
  nanosleep(&ts, nullptr);
}

// Waits (polling: the process is usually not our child) until pid is gone or a zombie.
bool wait_gone(pid_t pid, uint64_t start_time, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 2) {
    if (!linux_proc::alive(pid, start_time)) return true;
    sleep_ms(2);
  }
  return !linux_proc::alive(pid, start_time);
}

Result<> destroy(const Globals& g, ContainerDir& dir, const State& s) {
  log::debug("container \"" + s.id + "\": deleting");
  auto cg = cgroups::Cgroup::from_dirs(s.cgroup_dirs);
  if (s.pid > 0 && linux_proc::alive(s.pid, s.pid_start_time)) {
    ::kill(s.pid, SIGKILL);
    // Frozen tasks only die once thawed.
    if (cgroups::is_frozen(s.cgroup_dirs)) {
      cg.signal_all(SIGKILL);
      (void)cgroups::set_frozen(s.cgroup_dirs, false);
    }
    wait_gone(s.pid, s.pid_start_time, 5000);
  }
  if (!s.poststop.empty())
    hooks::run_all_logged(s.poststop, s.public_json(Status::stopped).dump(), "poststop");
  detach_guard(s);
  if (s.handler == microvm::kHandlerName) microvm::cleanup_after_monitor(g, s.id);
  auto r = cg.destroy();
  auto r2 = dir.remove();
  if (!r) return r;
  return r2;
}

}  // namespace

Status current_status(const State& s, const ContainerDir& dir) {
  bool alive = linux_proc::alive(s.pid, s.pid_start_time);
  if (s.creating) return alive ? Status::creating : Status::stopped;
  if (!alive) return Status::stopped;
  if (path_exists(dir.fifo_path())) return Status::created;
  if (cgroups::is_frozen(s.cgroup_dirs)) return Status::paused;
  return Status::running;
}

Result<> start(const Globals& g, const std::string& id) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, true));
  auto st = VEIL_TRY(dir.load());
  Status s = current_status(st, dir);
  if (s != Status::created)
    return fail("cannot start container \"" + id + "\": it is " + status_name(s) + ", not created");
  // The container process holds the fifo open for reading; O_NONBLOCK makes a dead one an
  // error (ENXIO) instead of a hang.
  Fd fifo(::open(dir.fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fifo) return fail_errno("cannot start container \"" + id + "\": its process is gone");
  if (::write(fifo.get(), "0", 1) != 1) return fail_errno("start container \"" + id + "\"");
  log::debug(strprintf("container \"%s\": started (pid %d)", id.c_str(), st.pid));
  ::unlink(dir.fifo_path().c_str());
  // The spec: a failing poststart hook is a warning, not a failed start.
  if (!st.poststart.empty())
    hooks::run_all_logged(st.poststart, st.public_json(Status::running).dump(), "poststart");
  return {};
}

Result<> kill(const Globals& g, const std::string& id, int sig, bool all) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, false));
  auto st = VEIL_TRY(dir.load());
  Status s = current_status(st, dir);
  // As runc: SIGKILL to a paused container thaws it afterwards, otherwise (cgroup v1 freezer) the
  // kill only lands at the next resume, and containerd's `task kill -s SIGKILL` / `task rm -f` of
  // a paused task waits forever for the exit.
  bool thaw = s == Status::paused && sig == SIGKILL;
  log::debug(strprintf("container \"%s\" (%s): signal %d%s", id.c_str(), status_name(s), sig,
                       all ? " to every process" : ""));
  if (all) {
    // As runc: whatever is left in the cgroup gets the signal in every state. containerd's shim
    // runs `kill --all ID 9` after the init exited to reap what it left; an error here makes its
    // exit handling fail and retry forever (the pod can never be stopped).
    if (!st.cgroup_dirs.empty() && sig != 0)
      cgroups::Cgroup::from_dirs(st.cgroup_dirs).signal_all(sig);
    if (thaw) (void)cgroups::set_frozen(st.cgroup_dirs, false);
    return {};
  }
  // runc's wording: containerd's shim maps "container not running" to "process already finished".
  if (s == Status::stopped || s == Status::creating) return fail("container not running");
  if (::kill(st.pid, sig) != 0) {
    if (errno == ESRCH) return fail("container not running");
    return fail_errno("signal container \"" + id + "\"");
  }
  if (thaw) (void)cgroups::set_frozen(st.cgroup_dirs, false);
  return {};
}

Result<> remove(const Globals& g, const std::string& id, bool force) {
  StateStore store(g.root);
  auto opened = store.open(id, true);
  if (!opened) {
    // Like runc: --force on a container that does not exist is not an error (idempotent cleanup).
    if (force && validate_id(id) && !path_exists(g.root + "/" + id)) return {};
    return std::unexpected(opened.error());
  }
  auto& dir = *opened;
  auto st = dir.load();
  if (!st) {
    // A state directory without a readable state (create was killed half-way): only --force.
    if (!force) return std::unexpected(st.error().wrap("use delete --force to remove it"));
    return dir.remove();
  }
  Status s = current_status(*st, dir);
  if ((s == Status::running || s == Status::paused || s == Status::creating) && !force)
    return fail("cannot delete container \"" + id + "\" that is " + status_name(s) +
                " (stop it first or use --force)");
  return destroy(g, dir, *st);
}

Result<> pause(const Globals& g, const std::string& id) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, true));
  auto st = VEIL_TRY(dir.load());
  Status s = current_status(st, dir);
  if (s != Status::running)
    return fail("cannot pause container \"" + id + "\": it is " + status_name(s) + ", not running");
  return cgroups::set_frozen(st.cgroup_dirs, true);
}

Result<> resume(const Globals& g, const std::string& id) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, true));
  auto st = VEIL_TRY(dir.load());
  Status s = current_status(st, dir);
  if (s != Status::paused)
    return fail("cannot resume container \"" + id + "\": it is " + status_name(s) + ", not paused");
  return cgroups::set_frozen(st.cgroup_dirs, false);
}

Result<> update(const Globals& g, const std::string& id, const nlohmann::json& resources) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, true));
  auto st = VEIL_TRY(dir.load());
  Status s = current_status(st, dir);
  if (s == Status::stopped || s == Status::creating)
    return fail("cannot update container \"" + id + "\": it is " + status_name(s));
  auto layout = VEIL_TRY(cgroups::probe());
  if (st.handler == microvm::kHandlerName) {
    if (s == Status::paused)
      return fail("cannot update microVM container \"" + id + "\" while it is paused");
    // The limits are the guest's (its veil applies them); the host cgroup keeps the VM's memory
    // and takes only CPU and block IO.
    nlohmann::json host = nlohmann::json::object();
    for (const char* k : {"cpu", "blockIO"})
      if (resources.is_object() && resources.contains(k)) host[k] = resources[k];
    if (!host.empty())
      VEIL_CHECK(cgroups::apply_resources(layout, st.cgroup_dirs, host, "resources", &st.devices));
    VEIL_CHECK(microvm::update_in_vm(microvm::vm_dir(g, id), resources));
    return dir.save(st);
  }
  VEIL_CHECK(cgroups::apply_resources(layout, st.cgroup_dirs, resources, "resources", &st.devices));
  return dir.save(st);
}

Result<std::vector<pid_t>> pids(const Globals& g, const std::string& id) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, false));
  auto st = VEIL_TRY(dir.load());
  Status s = current_status(st, dir);
  if (s == Status::stopped) return std::vector<pid_t>{};
  return cgroups::Cgroup::from_dirs(st.cgroup_dirs).pids();
}

Result<Listed> inspect(const Globals& g, const std::string& id) {
  StateStore store(g.root);
  auto dir = VEIL_TRY(store.open(id, false));
  auto st = VEIL_TRY(dir.load());
  return Listed{st, current_status(st, dir)};
}

std::vector<Listed> list(const Globals& g) {
  std::vector<Listed> out;
  for (const auto& id : StateStore(g.root).list()) {
    auto l = inspect(g, id);
    if (l) out.push_back(std::move(*l));
  }
  return out;
}

Result<int> run(const Globals& g, const std::string& id, const CreateOptions& opts, bool detach,
                bool keep) {
  // Block the signals we forward before the container exists, so none is lost in between.
  sigset_t fwd, old;
  sigemptyset(&fwd);
  for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGCHLD,
                SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM, SIGPIPE})
    sigaddset(&fwd, s);
  if (!detach) sigprocmask(SIG_BLOCK, &fwd, &old);

  Fd console;
  auto pid = create(g, id, opts, detach ? nullptr : &console);
  if (!pid) return std::unexpected(pid.error());
  if (auto r = start(g, id); !r) {
    (void)remove(g, id, true);
    return std::unexpected(r.error());
  }
  if (detach) return 0;

  int code = 255;
  if (console) {
    code = relay_and_wait(console.get(), *pid, fwd);
    if (!keep)
      if (auto r = remove(g, id, true); !r) log::warn("cleanup of " + id + ": " + r.error().str());
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return code;
  }
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&fwd, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (sig != SIGCHLD) {
      ::kill(*pid, sig);
      continue;
    }
    bool done = false;
    for (;;) {
      int status = 0;
      pid_t w = ::waitpid(-1, &status, WNOHANG);
      if (w <= 0) break;
      if (w == *pid) {
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        done = true;
      }
    }
    if (done) break;
  }
  if (!keep)
    if (auto r = remove(g, id, true); !r) log::warn("cleanup of " + id + ": " + r.error().str());
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace veil::runtime
