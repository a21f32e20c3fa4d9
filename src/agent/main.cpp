// veil-agent: /init of a veil microVM (docs/microvm.md). It boots the guest's user space, says
// "ready" on the control port, and then serves one sandbox: hello (clock, entropy), create (the
// rootfs image → overlay → veil's own runtime::create in the guest), start, exec, signals, stdio
// relay, and the exit of each process. It must never exit: it is pid 1.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/guard.hpp"
#include "agent/guest_boot.hpp"
#include "agent/processes.hpp"
#include "base/file.hpp"
#include "base/packet.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "linux/cgroup_stats.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/state.hpp"
#include "vm/frame.hpp"

namespace {

using nlohmann::json;
using namespace veil;
using vm::FrameType;

constexpr int kWriteTimeoutMs = 30'000;
// After a process exits, output still buffered in its pipes is relayed for this long at most
// (a background child that keeps the pipe open must not hold the exit back).
constexpr int kDrainMs = 300;

class Agent {
  using Proc = agent::Proc;

 public:
  explicit Agent(Fd port) : port_(std::move(port)) {}
  [[noreturn]] void serve();

 private:
  void send(FrameType t, uint32_t proc, std::string_view payload = {}) {
    // A host that stopped reading cannot be helped: the frame is lost, the agent goes on.
    (void)vm::write_all(port_.get(), vm::encode_frame(t, proc, payload), kWriteTimeoutMs);
  }
  void send_json(FrameType t, uint32_t proc, const json& j) { send(t, proc, j.dump()); }
  void send_error(uint32_t proc, const std::string& msg) {
    send_json(FrameType::error, proc, {{"message", msg}});
  }
  void handle(vm::Frame f);
  void dispatch(vm::Frame f);
  void on_hello(const json& j);
  void on_create(uint32_t proc, const json& j);
  void on_exec(uint32_t proc, const json& j);
  void on_query(const vm::Frame& f);
  void container_gone(uint32_t proc);
  void reap();
  void pump(Proc& p);
  void finish(Proc& p);

  // A container: its id, and where its rootfs is mounted (a pod's containers each have their
  // own disk slot, overlay and bundle under kPodDir/<proc>).
  struct Ctr {
    std::string id;
    bool pod = false;
  };
  static constexpr const char* kPodDir = "/run/veil-pod";
  static std::string pod_dir(uint32_t proc) { return strprintf("%s/%u", kPodDir, proc); }

  Fd port_;
  vm::FrameReader reader_;
  std::map<uint32_t, Ctr> ctrs_;  // by the process id of the container's init
  bool hello_done_ = false;
  std::map<uint32_t, Proc> procs_;
  agent::GuestGuard guard_;
};

// One entry of create's "files": a directory, a symbolic link or a file (hex content), under
// /run/veil-binds (runtime/microvm/guest_config.cpp).
Result<> write_carried(const json& f) {
  std::string path = f.value("path", std::string());
  if (!path.starts_with("/run/veil-binds/") || path.find("/../") != std::string::npos ||
      path.ends_with("/.."))
    return fail("create: bad file path " + path);
  VEIL_CHECK(mkdir_all(path.substr(0, path.rfind('/'))));
  mode_t mode = static_cast<mode_t>(f.value("mode", 0644) & 07777);
  if (f.value("dir", false)) {
    VEIL_CHECK(mkdir_all(path));
    ::chmod(path.c_str(), mode);
    return {};
  }
  if (f.contains("link")) {
    if (::symlink(f.value("link", std::string()).c_str(), path.c_str()) != 0)
      return fail_errno("symlink " + path);
    return {};
  }
  return write_file_atomic(path, from_hex(f.value("hex", std::string())).value_or(""),
                           static_cast<int>(mode));
}

std::string kernel_release() {
  struct utsname u;
  return ::uname(&u) == 0 ? u.release : "";
}

void Agent::on_hello(const json& j) {
  if (j.value("version", 0) != vm::kProtocolVersion)
    return send_error(0, strprintf("agent speaks protocol version %d", vm::kProtocolVersion));
  std::string seed = from_hex(j.value("seed", std::string())).value_or("");
  if (auto r = agent::refresh_identity(j.value("realtime_ns", int64_t{0}), seed); !r)
    return send_error(0, r.error().str());
  if (auto r = agent::configure_network(j.contains("net") ? j["net"] : json()); !r)
    return send_error(0, r.error().str());
  hello_done_ = true;
  send_json(FrameType::hello_ack, 0,
            {{"version", vm::kProtocolVersion},
             {"token", j.value("token", std::string())},
             {"kernel", kernel_release()}});
}

void Agent::on_create(uint32_t proc, const json& j) {
  if (!hello_done_) return send_error(proc, "create before hello");
  // Outside a pod one container per guest; in a pod (the shim v2) each on its own disk slot.
  bool pod = j.value("pod", false);
  if (!pod && !ctrs_.empty()) return send_error(proc, "this sandbox already has a container");
  if (ctrs_.contains(proc) || procs_.contains(proc))
    return send_error(proc, "create: process id in use");
  for (const auto& [p, c] : ctrs_)
    if (j.contains("id") && j["id"].is_string() && c.id == j["id"].get<std::string>())
      return send_error(proc, "create: container " + c.id + " exists");
  if (!j.contains("id") || !j["id"].is_string() || !j.contains("config") ||
      !j["config"].is_object())
    return send_error(proc, "create: needs \"id\" and \"config\"");
  int64_t t0 = monotonic_ms();
  std::string bundle = pod ? pod_dir(proc) + "/bundle" : agent::kGuestBundle;
  if (pod) {
    // What the pod's containers share in the guest: /dev/shm, and its writable volumes (an
    // emptyDir) as directories of the guest (docs/shim.md).
    if (auto r = agent::mount_pod_shared(std::string(kPodDir) + "/shm"); !r)
      return send_error(proc, r.error().str());
    for (const auto& d : j.value("pod_dirs", json::array())) {
      std::string dir = d.is_string() ? d.get<std::string>() : "";
      if (!dir.starts_with(std::string(kPodDir) + "/volumes/") ||
          dir.find("..") != std::string::npos)
        return send_error(proc, "create: bad pod directory " + dir);
      if (auto r = mkdir_all(dir, 0777); !r) return send_error(proc, r.error().str());
    }
    if (auto r = agent::mount_pod_rootfs(pod_dir(proc) + "/rootfs", j.value("disk", std::string()),
                                         pod_dir(proc));
        !r)
      return send_error(proc, r.error().str());
  } else if (auto r = agent::mount_rootfs(agent::kGuestRootfs); !r) {
    return send_error(proc, r.error().str());
  }
  int64_t mount_ms = monotonic_ms() - t0;
  // Files bind-mounted on the host travel with the request (runtime/microvm/guest_config).
  if (j.contains("files") && j["files"].is_array())
    for (const auto& f : j["files"])
      if (auto r = write_carried(f); !r) return send_error(proc, r.error().str());
  // Writable directory volumes are the host's, shared over virtio-fs.
  if (j.contains("volumes") && j["volumes"].is_array())
    for (const auto& v : j["volumes"])
      if (auto r =
              agent::mount_volume("/run/veil-volumes", v.is_string() ? v.get<std::string>() : "");
          !r)
        return send_error(proc, r.error().str());
  if (auto r = mkdir_all(bundle); !r) return send_error(proc, r.error().str());
  if (auto r = write_file_atomic(bundle + "/config.json", j["config"].dump()); !r)
    return send_error(proc, r.error().str());
  // One guard per guest: a pod's containers share the policy the first one brought.
  if (j.contains("guard") && !guard_.active())
    if (auto r = guard_.start(j["guard"]); !r) return send_error(proc, r.error().str());
  // org.veil.secrets, fetched by the host; the keeper seals them into memfds for the guest's veil.
  std::vector<agent::Secret> secrets;
  if (j.contains("secrets") && j["secrets"].is_array())
    for (const auto& s : j["secrets"]) {
      std::string name = s.is_object() ? s.value("name", std::string()) : "";
      auto data = from_hex(s.is_object() ? s.value("hex", std::string()) : "");
      if (!secrets_mount::valid_name(name) || !data)
        return send_error(proc, "create: bad secret \"" + name + "\"");
      secrets.push_back({name, std::move(*data)});
    }
  auto p = agent::spawn_container(j["id"].get<std::string>(), bundle, proc, guard_.container_plan(),
                                  secrets);
  for (auto& s : secrets) ::explicit_bzero(s.data.data(), s.data.size());
  if (!p) return send_error(proc, p.error().str());
  ctrs_[proc] = Ctr{j["id"].get<std::string>(), pod};
  p->mount_ms = mount_ms;
  p->spawned_at_ms = monotonic_ms();
  procs_[proc] = std::move(*p);
}

void Agent::on_exec(uint32_t proc, const json& j) {
  // The container to exec in: its init's process id (0 outside a pod).
  uint32_t cproc = j.value("container", 0u);
  auto c = ctrs_.find(cproc);
  if (c == ctrs_.end() || !procs_.contains(cproc) || procs_[cproc].guest_pid <= 0)
    return send_error(proc, "exec: the container is not running");
  if (proc == 0 || procs_.contains(proc) || ctrs_.contains(proc))
    return send_error(proc, "exec: process id in use");
  auto p = agent::spawn_exec(c->second.id, proc, j.value("process", json::object()));
  if (!p) return send_error(proc, p.error().str());
  send_json(FrameType::started, proc, {{"pid", p->guest_pid}});
  procs_[proc] = std::move(*p);
}

// stats, pause, resume, pids: about the container whose init is f.proc, answered with `reply`.
void Agent::on_query(const vm::Frame& f) {
  auto c = ctrs_.find(f.proc);
  if (c == ctrs_.end()) return send_error(f.proc, "no container with this process id");
  runtime::Globals g;
  g.root = agent::kGuestRoot;
  const std::string& id = c->second.id;
  json out = json::object();
  if (f.type == FrameType::stats) {
    runtime::StateStore store(g.root);
    auto dir = store.open(id, false);
    if (!dir) return send_error(f.proc, dir.error().str());
    auto st = dir->load();
    if (!st) return send_error(f.proc, st.error().str());
    auto data = cgroups::collect_stats(st->cgroup_dirs);
    if (!data) return send_error(f.proc, data.error().str());
    out["stats"] = json::parse(data->dump());
  } else if (f.type == FrameType::pause || f.type == FrameType::resume) {
    auto r = f.type == FrameType::pause ? runtime::pause(g, id) : runtime::resume(g, id);
    if (!r) return send_error(f.proc, r.error().str());
  } else {
    auto pids = runtime::pids(g, id);
    if (!pids) return send_error(f.proc, pids.error().str());
    out["pids"] = *pids;
  }
  send_json(FrameType::reply, f.proc, out);
}

// A container's init is gone: its rootfs and bundle go too (a pod's disk slot is free again).
void Agent::container_gone(uint32_t proc) {
  auto c = ctrs_.find(proc);
  if (c == ctrs_.end()) return;
  if (c->second.pod) {
    agent::unmount_pod_rootfs(pod_dir(proc) + "/rootfs", pod_dir(proc));
    (void)remove_all(pod_dir(proc));
  }
  ctrs_.erase(c);
}

void Agent::handle(vm::Frame f) {
  // A malformed request is answered, never fatal: the agent is pid 1.
  try {
    dispatch(std::move(f));
  } catch (const std::exception& e) {
    send_error(f.proc, std::string("bad request: ") + e.what());
  }
}

void Agent::dispatch(vm::Frame f) {
  if (f.type == FrameType::stdin_data) {
    auto it = procs_.find(f.proc);
    if (it != procs_.end() && it->second.in) {
      it->second.pending_in += f.payload;
      pump(it->second);
    }
    return;
  }
  json j = f.payload.empty() ? json::object() : json::parse(f.payload, nullptr, false);
  if (j.is_discarded()) return send_error(f.proc, "bad request: payload is not JSON");
  switch (f.type) {
    case FrameType::hello:
      return on_hello(j);
    case FrameType::create:
      return on_create(f.proc, j);
    case FrameType::stats:
    case FrameType::pause:
    case FrameType::resume:
    case FrameType::pids:
      return on_query(f);
    case FrameType::exec:
      return on_exec(f.proc, j);
    case FrameType::resize: {
      auto it = procs_.find(f.proc);
      if (it == procs_.end() || !it->second.tty) return;
      struct winsize ws {};
      ws.ws_row = static_cast<unsigned short>(j.value("rows", 24));
      ws.ws_col = static_cast<unsigned short>(j.value("cols", 80));
      (void)::ioctl(it->second.tty.get(), TIOCSWINSZ, &ws);
      return;
    }
    case FrameType::update: {
      // A pod's container by its init's process id; outside a pod the one container (process
      // 0), whatever id the monitor's request carries.
      auto c = ctrs_.find(f.proc);
      if (c == ctrs_.end()) c = ctrs_.find(0);
      if (c == ctrs_.end()) return send_error(f.proc, "update: no container");
      runtime::Globals g;
      g.root = agent::kGuestRoot;
      if (auto r = runtime::update(g, c->second.id, j.value("resources", json::object())); !r)
        return send_error(f.proc, r.error().str());
      return send(FrameType::updated, f.proc);
    }
    case FrameType::start: {
      auto it = procs_.find(f.proc);
      if (it == procs_.end() || !it->second.start)
        return send_error(f.proc, "start: nothing to start");
      (void)!::write(it->second.start.get(), "1", 1);
      it->second.start.reset();
      return;
    }
    case FrameType::stdin_close: {
      auto it = procs_.find(f.proc);
      if (it == procs_.end() || !it->second.in) return;
      it->second.stdin_closed = true;
      pump(it->second);
      return;
    }
    case FrameType::signal: {
      auto it = procs_.find(f.proc);
      int sig = j.is_object() ? j.value("signal", 0) : 0;
      if (it == procs_.end() || sig <= 0 || sig >= 65) return;
      agent::signal_process(it->second, sig);
      return;
    }
    default:
      return send_error(f.proc, std::string("unexpected frame ") + vm::frame_type_name(f.type));
  }
}

// Writes what stdin has pending; closes it once drained after stdin_close.
void Agent::pump(Proc& p) {
  while (p.in && !p.pending_in.empty()) {
    ssize_t n = ::write(p.in.get(), p.pending_in.data(), p.pending_in.size());
    if (n > 0) {
      p.pending_in.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    p.pending_in.clear();
    p.in.reset();  // the process closed its stdin
  }
  if (p.in && p.pending_in.empty() && p.stdin_closed) p.in.reset();
}

void Agent::reap() {
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(-1, &status, WNOHANG);
    if (w <= 0) return;
    for (auto& [id, p] : procs_)
      if (p.child == w) {
        p.exited = true;
        p.wait_status = status;
        p.exited_at_ms = monotonic_ms();
      }
  }
}

void Agent::finish(Proc& p) {
  json j;
  if (WIFSIGNALED(p.wait_status))
    j["signal"] = WTERMSIG(p.wait_status);
  else
    j["status"] = WIFEXITED(p.wait_status) ? WEXITSTATUS(p.wait_status) : 255;
  if (p.status) {  // the keeper died before it reported: create failed
    std::string msg;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p.status.get(), buf, sizeof buf)) > 0)
      msg.append(buf, static_cast<size_t>(n));
    send_error(p.id, msg.empty() ? "the container's keeper died during create" : msg);
    return;
  }
  if (auto c = ctrs_.find(p.id); c != ctrs_.end()) {
    std::string marker = agent::oom_marker(c->second.id);
    if (::unlink(marker.c_str()) == 0) j["oom"] = true;
  }
  send_json(FrameType::exit, p.id, j);
}

void Agent::serve() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  Fd sfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  send_json(FrameType::ready, 0, {{"version", vm::kProtocolVersion}, {"kernel", kernel_release()}});
  for (;;) {
    std::vector<pollfd> fds{{port_.get(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    struct Slot {
      uint32_t proc;
      int which;  // 0 stdout, 1 stderr, 2 status, 3 stdin
    };
    std::vector<Slot> slots;
    bool draining = false;
    for (auto& [id, p] : procs_) {
      if (p.out) fds.push_back({p.out.get(), POLLIN, 0}), slots.push_back({id, 0});
      if (p.err) fds.push_back({p.err.get(), POLLIN, 0}), slots.push_back({id, 1});
      if (p.status) fds.push_back({p.status.get(), POLLIN, 0}), slots.push_back({id, 2});
      if (p.in && !p.pending_in.empty())
        fds.push_back({p.in.get(), POLLOUT, 0}), slots.push_back({id, 3});
      draining |= p.exited;
    }
    size_t guard_slot = fds.size();
    if (guard_.active()) fds.push_back({guard_.fd(), POLLIN, 0});
    int r = ::poll(fds.data(), fds.size(), draining ? 50 : -1);
    if (guard_.active() && guard_slot < fds.size() && fds[guard_slot].revents)
      guard_.drain([&](json e) { send(FrameType::event, 0, e.dump()); });
    if (r < 0 && errno != EINTR) ::usleep(10'000);
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      ssize_t n = ::read(port_.get(), buf, sizeof buf);
      if (n > 0) {
        reader_.feed(buf, static_cast<size_t>(n));
        for (;;) {
          auto f = reader_.next();
          if (!f) {  // a corrupt stream cannot be resynchronised: start over
            reader_ = vm::FrameReader{};
            send_error(0, f.error().str());
            break;
          }
          if (!*f) break;
          handle(std::move(**f));
        }
      } else {
        ::usleep(10'000);  // host side not connected (yet): wait for it
      }
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sfd.get(), &si, sizeof si) > 0) {
      }
      reap();
    }
    for (size_t i = 0; i < slots.size(); ++i) {
      auto& pf = fds[i + 2];
      if (!pf.revents) continue;
      auto it = procs_.find(slots[i].proc);
      if (it == procs_.end()) continue;
      Proc& p = it->second;
      if (slots[i].which == 3) {
        pump(p);
        continue;
      }
      Fd& src = slots[i].which == 0 ? p.out : slots[i].which == 1 ? p.err : p.status;
      char buf[65536];
      ssize_t n;
      if (slots[i].which == 2) {
        // "pid N\n", with the pty master alongside when the container has a terminal.
        auto pk = recv_packet(src.get(), 0);
        n = pk && *pk ? static_cast<ssize_t>((*pk)->text.size()) : 0;
        if (n > 0) std::memcpy(buf, (*pk)->text.data(), std::min(sizeof buf, (*pk)->text.size()));
        if (n > 0 && (*pk)->fd) {
          Fd& tty = (*pk)->fd;
          ::fcntl(tty.get(), F_SETFL, O_NONBLOCK);
          // The pty replaces the pipes: output from the master, input to it.
          p.out.reset(::fcntl(tty.get(), F_DUPFD_CLOEXEC, 3));
          p.in.reset(::fcntl(tty.get(), F_DUPFD_CLOEXEC, 3));
          p.err.reset();
          p.tty = std::move(tty);
        }
      } else {
        n = ::read(src.get(), buf, sizeof buf);
      }
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) {
        src.reset();
        continue;
      }
      if (slots[i].which == 2) {
        std::string s(buf, static_cast<size_t>(n));
        if (s.starts_with("pid ")) {
          p.guest_pid = std::atoi(s.c_str() + 4);
          // Guarded from here on: the process still waits for `start`.
          if (guard_.active())
            if (auto att = guard_.attach(ctrs_[p.id].id, p.guest_pid); !att) {
              ::kill(p.guest_pid, SIGKILL);
              send_error(p.id, att.error().str());
              src.reset();
              continue;
            }
          send_json(FrameType::created, p.id,
                    {{"pid", p.guest_pid},
                     {"mount_ms", p.mount_ms},
                     {"runtime_create_ms", monotonic_ms() - p.spawned_at_ms}});
          src.reset();
        } else {
          send_error(p.id, s.starts_with("error: ") ? s.substr(7) : s);
          src.reset();
          p.guest_pid = -1;
        }
        continue;
      }
      send(slots[i].which == 0 ? FrameType::stdout_data : FrameType::stderr_data, p.id,
           std::string_view(buf, static_cast<size_t>(n)));
    }
    for (auto it = procs_.begin(); it != procs_.end();) {
      Proc& p = it->second;
      bool drained = !p.out && !p.err;
      if (p.exited && (drained || monotonic_ms() - p.exited_at_ms > kDrainMs)) {
        finish(p);
        uint32_t id = it->first;
        it = procs_.erase(it);
        container_gone(id);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // pid 1: never exit (the kernel would panic); a fatal boot error is reported and powers off.
  auto fatal = [](const std::string& msg) {
    std::string line = "veil-agent: " + msg + "\n";
    if (Fd k{::open("/dev/kmsg", O_WRONLY | O_CLOEXEC)})
      (void)!::write(k.get(), line.data(), line.size());
    ::sync();
    ::reboot(RB_POWER_OFF);
    for (;;) ::pause();
  };
  if (argc < 2 || std::string(argv[1]) != "stage2") {
    auto r = agent::leave_initramfs();
    fatal(r.error().str());
  }
  if (auto r = agent::mount_basics(); !r) fatal(r.error().str());
  if (auto r = agent::load_modules(); !r) fatal(r.error().str());
  auto port = agent::open_port();
  if (!port) fatal(port.error().str());
  ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  Agent(std::move(*port)).serve();
}
