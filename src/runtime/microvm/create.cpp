#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <utility>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "linux/cgroup_resources.hpp"
#include "linux/cgroups.hpp"
#include "linux/proc.hpp"
#include "runtime/guard_setup.hpp"
#include "runtime/microvm/guest_config.hpp"
#include "runtime/microvm/guest_guard.hpp"
#include "runtime/microvm/guest_start.hpp"
#include "runtime/microvm/handler.hpp"
#include "runtime/microvm/monitor.hpp"
#include "runtime/secrets_fetch.hpp"
#include "runtime/sync.hpp"
#include "runtime/terminal.hpp"
#include "vm/net.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;

Result<bool> wanted(const Globals& g, const std::map<std::string, std::string>& annotations) {
  std::string h = g.default_handler;
  if (auto it = annotations.find(kHandlerAnnotation); it != annotations.end()) h = it->second;
  if (h.empty() || h == "container") return false;
  if (h == kHandlerName) return true;
  return fail(std::string("annotations.") + kHandlerAnnotation + ": unknown handler \"" + h +
              "\" (container or microvm)");
}

std::string vm_dir(const Globals& g, const std::string& id) {
  return g.root + "/" + id + "/vm";
}

void cleanup_after_monitor(const Globals& g, const std::string& id) {
  auto net = read_file(vm_dir(g, id) + "/net.json");
  if (!net) return;
  auto j = json::parse(*net, nullptr, false);
  if (j.is_object())
    vm::unplumb_in(j.value("netns", std::string()), j.value("ifname", std::string()));
}

namespace {

// Waits for the monitor's report: "ok\n", or "error …", or EOF (it died). Bounded.
Result<> wait_report(int fd, pid_t monitor, int timeout_ms) {
  std::string got;
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    int left = static_cast<int>(deadline - monotonic_ms());
    if (left <= 0)
      return fail(strprintf("the microVM did not become ready within %d ms (VEIL_SETUP_TIMEOUT)",
                            timeout_ms));
    struct pollfd p {
      fd, POLLIN, 0
    };
    int r = ::poll(&p, 1, left);
    if (r < 0 && errno != EINTR) return fail_errno("poll");
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  if (got == "ok\n") return {};
  if (got.starts_with("error ")) return fail(got.substr(6));
  int status = 0;
  ::waitpid(monitor, &status, WNOHANG);
  return fail("the microVM monitor died during create");
}

}  // namespace

Result<pid_t> create(const Globals& g, const std::string& id, const CreateOptions& opts,
                     const CreateInput& in, Fd* console_out) {
  auto fail_with = [&](Error e) -> Result<pid_t> {
    return std::unexpected(std::move(e).wrap("container \"" + id + "\" (microvm)"));
  };
  if (opts.preserve_fds > 0)
    return fail_with(Error{"--preserve-fds: file descriptors cannot cross into a microVM"});
  json config = json::parse(in.config_text, nullptr, false);
  auto gc = guest_config(config);
  if (!gc) return fail_with(gc.error());
  // org.veil.guard.policy: compiled here (a bad policy fails before anything exists), enforced by
  // the agent in the guest.
  auto guard_policy = guest_guard_request(config);
  if (!guard_policy) return fail_with(guard_policy.error());
  auto assets = vm::find_assets();
  if (!assets) return fail_with(assets.error());
  if (!path_exists("/usr/bin/mkfs.erofs"))
    return fail_with(Error{"mkfs.erofs is missing: install erofs-utils"});
  auto accel = vm::choose_accel(*assets);
  // VEIL_VM_ACCEL=kvm: an operator who will not fall back to software emulation.
  if (const char* want = ::getenv("VEIL_VM_ACCEL"); want && *want) {
    std::string w = want;
    if (w != "kvm" && w != "tcg")
      return fail_with(Error{"VEIL_VM_ACCEL=" + w + ": unknown accelerator (kvm or tcg)"});
    if (w == "kvm" && accel.name != "kvm")
      return fail_with(Error{"VEIL_VM_ACCEL=kvm: KVM is not usable here (" + accel.reason + ")"});
  }
  vm::Shape shape = shape_for(config, accel.name);
  auto layout = VEIL_TRY(cgroups::probe());
  std::string cgroups_path =
      config.contains("linux") ? config["linux"].value("cgroupsPath", std::string()) : "";
  auto cgroup = cgroups::Cgroup::for_container(layout, cgroups_path, id);

  StateStore store(g.root);
  auto dir = VEIL_TRY(store.create(id));
  bool done = false;
  pid_t monitor = -1;
  struct Undo {
    ContainerDir& dir;
    cgroups::Cgroup& cg;
    pid_t& monitor;
    bool& done;
    bool cg_made = false;
    ~Undo() {
      if (done) return;
      if (monitor > 0) {
        ::kill(monitor, SIGKILL);
        ::waitpid(monitor, nullptr, 0);
      }
      if (cg_made) (void)cg.destroy();
      (void)dir.remove();
    }
  } undo{dir, cgroup, monitor, done};
  for (const auto& w : gc->warnings) log::warn("container \"" + id + "\" (microvm): " + w);

  State st;
  st.oci_version = config.value("ociVersion", "");
  st.id = id;
  st.bundle = in.bundle;
  st.rootfs = in.rootfs;
  st.created = log::rfc3339_now();
  st.owner = std::to_string(::geteuid());
  if (config.contains("annotations") && config["annotations"].is_object())
    for (auto& [k, v] : config["annotations"].items())
      if (v.is_string()) st.annotations[k] = v.get<std::string>();
  st.creating = true;
  st.cgroup_dirs = cgroup.dirs();
  st.handler = kHandlerName;
  VEIL_CHECK(dir.save(st));

  VEIL_CHECK(cgroup.create());
  undo.cg_made = true;
  if (auto r = cgroups::apply_resources(layout, cgroup.dirs(), host_resources(config, shape),
                                        "linux.resources (host side of the microVM)", &st.devices);
      !r)
    return fail_with(r.error());

  if (::mkfifo(dir.fifo_path().c_str(), 0600) != 0) return fail_errno("create exec fifo");
  Fd fifo(::open(dir.fifo_path().c_str(), O_RDWR | O_CLOEXEC));
  if (!fifo) return fail_errno("open exec fifo");
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return fail_errno("pipe");
  Fd report_r(report[0]), report_w(report[1]);

  // process.terminal: a pty on the host; its master goes to the caller, the monitor relays the
  // other end to the guest's terminal.
  Fd tty_master, tty_slave;
  bool terminal = config.contains("process") && config["process"].is_object() &&
                  config["process"].value("terminal", false);
  if (terminal) {
    tty_master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!tty_master || ::grantpt(tty_master.get()) != 0 || ::unlockpt(tty_master.get()) != 0)
      return fail_errno("open a pty for the microVM's terminal");
    tty_slave.reset(::open(::ptsname(tty_master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!tty_slave) return fail_errno("open the pty's slave");
    struct termios t;
    if (::tcgetattr(tty_slave.get(), &t) == 0) {
      ::cfmakeraw(&t);  // a pass-through: the guest's pty does the line discipline
      ::tcsetattr(tty_slave.get(), TCSANOW, &t);
    }
    const auto& cs = config["process"].value("consoleSize", json::object());
    struct winsize ws {};
    ws.ws_row = static_cast<unsigned short>(cs.value("height", 24));
    ws.ws_col = static_cast<unsigned short>(cs.value("width", 80));
    ::ioctl(tty_master.get(), TIOCSWINSZ, &ws);
  }

  MonitorConfig mc;
  mc.tty_fd = tty_slave.get();
  mc.id = id;
  mc.vm_dir = vm_dir(g, id);
  mc.rootfs = in.rootfs;
  mc.create_request = {{"id", id}, {"config", gc->config}, {"files", gc->files}};
  // org.veil.secrets: attested and fetched here, before the VM exists (a refusal leaves
  // nothing); the plaintext goes to the guest with the create request and from there into the
  // container's /run/secrets tmpfs only (docs/microvm.md).
  if (wants_secrets(st.annotations)) {
    auto got = fetch_secrets(in.bundle, in.config_text, in.rootfs);
    if (!got)
      return fail_with(
          std::move(got.error()).wrap(std::string("secrets (") + kSecretsAnnotation + ")"));
    // The monitor forked from here wipes the one copy once the guest has it.
    auto list = secrets_request(*got);
    if (!list) return fail_with(list.error());
    mc.create_request["secrets"] = std::move(*list);
  }
  for (const auto& v : gc->volumes) {
    mc.create_request["volumes"].push_back(v.tag);
    mc.volumes.push_back(v);
  }
  if (!guard_policy->is_null()) mc.create_request["guard"] = *guard_policy;
  mc.shape = shape;
  mc.netns = network_namespace_path(config);
  // org.veil.microvm.network: "user" gives a VM without a network namespace QEMU's user-mode
  // network (slirp: outbound connections, the host's loopback as 10.0.2.2).
  if (auto it = st.annotations.find(kNetworkAnnotation); it != st.annotations.end()) {
    if (it->second != "user")
      return fail_with(Error{std::string("annotations.") + kNetworkAnnotation + ": unknown \"" +
                             it->second + "\" (only \"user\")"});
    if (!mc.netns.empty())
      return fail_with(Error{std::string("annotations.") + kNetworkAnnotation +
                             ": user networking and a network namespace path exclude each other"});
    mc.user_net = true;
    // The container uses the guest's network stack, which has the NIC.
    json kept = json::array();
    for (const auto& ns : mc.create_request["config"]["linux"]["namespaces"])
      if (ns.value("type", "") != "network") kept.push_back(ns);
    mc.create_request["config"]["linux"]["namespaces"] = kept;
  }
  // With the runc shim each container of a pod gets its own VM: the pod's sandbox (pause)
  // container needs no network, so the pod's interface is left to its application container. Its
  // monitor still joins the pod's namespace: containerd names it to the pod's other containers as
  // /proc/<sandbox pid>/ns/net, and that must not be the host's.
  if (st.annotations.count("io.kubernetes.cri.container-type") &&
      st.annotations["io.kubernetes.cri.container-type"] == "sandbox")
    mc.hold_netns = std::exchange(mc.netns, "");
  mc.assets = *assets;
  const char* tmpl = ::getenv("VEIL_VM_TEMPLATE");
  mc.use_template = !(tmpl && std::string(tmpl) == "off");
  mc.fifo_fd = fifo.get();
  mc.status_fd = report_w.get();
  mc.lock_fd = dir.lock_fd();
  mc.timeout_ms = setup_timeout_ms();
  bool in_v2 = false;
  monitor = cgroup.fork_child(&in_v2);
  if (monitor < 0) return fail_errno("fork the microVM monitor");
  if (monitor == 0) {
    report_r.reset();
    if (auto r = cgroup.join_self(in_v2); !r) {
      std::string msg = "error " + r.error().str();
      (void)!::write(report_w.get(), msg.data(), msg.size());
      ::_exit(1);
    }
    run_monitor(mc);
  }
  report_w.reset();
  fifo.reset();
  tty_slave.reset();
  if (auto r = wait_report(report_r.get(), monitor, mc.timeout_ms); !r) return fail_with(r.error());
  auto ps = linux_proc::read_stat(monitor);
  if (!ps) return fail_with(Error{"the microVM monitor exited during create"});
  st.pid = monitor;
  st.pid_start_time = ps->start_time;
  st.creating = false;
  VEIL_CHECK(dir.save(st));
  if (!opts.pid_file.empty())
    if (auto r = write_file_atomic(opts.pid_file, std::to_string(st.pid)); !r)
      return fail_with(r.error().wrap("--pid-file"));
  if (tty_master) {
    if (!opts.console_socket.empty()) {
      if (auto r = send_to_console_socket(opts.console_socket, tty_master.get()); !r)
        return fail_with(r.error());
    } else if (console_out) {
      *console_out = std::move(tty_master);
    } else {
      return fail_with(Error{"process.terminal is true: give --console-socket"});
    }
  }
  done = true;
  log::debug(strprintf("container \"%s\": microVM created, monitor pid %d (%s)", id.c_str(),
                       monitor, accel.name.c_str()));
  return monitor;
}

}  // namespace veil::runtime::microvm
