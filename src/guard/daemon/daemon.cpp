#include "guard/daemon/daemon.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/packet.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/bpf/loader.hpp"
#include "guard/control.hpp"
#include "guard/daemon/containers.hpp"
#include "guard/daemon/event_format.hpp"
#include "guard/daemon/exec_gate.hpp"
#include "guard/daemon/sink.hpp"
#include "guard/daemon/syscall_gate.hpp"
#include "guard/host/status.hpp"
#include "guard/registry.hpp"
#include "linux/bpf_sys.hpp"
#include "linux/proc.hpp"

namespace veil::guard {
namespace {

Result<Fd> listen_unix(const std::string& path, int type) {
  Fd s(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) return fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail_errno("bind " + path);
  ::chmod(path.c_str(), 0600);
  if (::listen(s.get(), 64) != 0) return fail_errno("listen " + path);
  return s;
}

// Everything the loop owns.
struct Daemon {
  Instance inst;
  Sink sink;
  Containers containers;
  ExecGate gate;
  SyscallGate syscalls;
  Fd epoll, control, events, sigfd, timer, approved, stats;
  ring_buffer* rb = nullptr;
  std::map<int, uint64_t> notify_owner;  // notify fd -> cgroup id
  uint64_t ringbuf_dropped_seen = 0;
  bool have_fanotify = false;

  Daemon(Instance i, const DaemonOptions& o)
      : inst(i), sink(AuditLog(i.audit_log(), o.max_log_bytes, o.max_log_files)), containers(i) {}
  ~Daemon() {
    if (rb) ring_buffer__free(rb);
  }

  void watch(int fd, uint32_t ev = EPOLLIN) {
    epoll_event e{};
    e.events = ev;
    e.data.fd = fd;
    epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &e);
  }
  void unwatch(int fd) { epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr); }

  void add_notify_fd(Container& c, int fd) {
    c.notify_fds.push_back(fd);
    notify_owner[fd] = c.cgroup_id;
    watch(fd);
  }

  void drop_notify_fd(int fd) {
    unwatch(fd);
    auto it = notify_owner.find(fd);
    if (it != notify_owner.end()) {
      if (Container* c = containers.find(it->second)) std::erase(c->notify_fds, fd);
      notify_owner.erase(it);
    }
    ::close(fd);
  }

  void forget(uint64_t cgid) {
    if (Container* c = containers.find(cgid))
      for (int fd : std::vector<int>(c->notify_fds)) drop_notify_fd(fd);
    containers.remove(cgid);
  }

  nlohmann::json handle_request(const nlohmann::json& req, int fd) {
    std::string op = req.value("op", std::string());
    auto error = [&](const std::string& msg) {
      if (fd >= 0) ::close(fd);
      return nlohmann::json{{"ok", false}, {"error", msg}};
    };
    if (op == "ping") {
      if (fd >= 0) ::close(fd);
      return {{"ok", true}};
    }
    if (op == "status") {
      if (fd >= 0) ::close(fd);
      return {{"ok", true},
              {"events", sink.emitted()},
              {"subscribers", sink.subscribers().count()},
              {"subscriber_dropped", sink.subscribers().dropped()},
              {"ringbuf_dropped", ringbuf_dropped_seen},
              {"log_errors", sink.log_errors()},
              {"log_rotations", sink.rotations()},
              {"exec_decisions", gate.decisions()},
              {"exec_denied", gate.denied()},
              {"syscalls_answered", syscalls.answered()},
              {"containers", containers.all().size()},
              {"fanotify", have_fanotify}};
    }
    uint64_t cgid = req.value("cgroup_id", uint64_t{0});
    if (op == "register") {
      auto c = containers.load(cgid);
      if (!c) return error(c.error().str());
      if (have_fanotify) {
        if (auto r = gate.mark(**c); !r) {
          containers.remove(cgid);
          return error(r.error().str());
        }
      } else if (gate.needs_marks(**c) && (*c)->spec.exec_rules != Mode::off) {
        containers.remove(cgid);
        return error("exec rules need fanotify permission events, which this host refused");
      }
      if (fd >= 0) add_notify_fd(**c, fd);
      return {{"ok", true}};
    }
    if (op == "notify_fd") {
      Container* c = containers.find(cgid);
      if (!c) return error("container with cgroup " + std::to_string(cgid) + " is not registered");
      if (fd < 0) return error("no fd attached");
      add_notify_fd(*c, fd);
      return {{"ok", true}};
    }
    if (op == "forward") {
      // An event from a microVM guest's guard (relayed by its monitor), into the same stream.
      if (fd >= 0) ::close(fd);
      if (!req.contains("event") || !req["event"].is_object()) return error("forward: no event");
      sink.emit(req["event"]);
      return {{"ok", true}};
    }
    if (op == "unregister") {
      if (fd >= 0) ::close(fd);
      forget(cgid);
      return {{"ok", true}};
    }
    return error("unknown op \"" + op + "\"");
  }

  void accept_control() {
    for (;;) {
      Fd c(::accept4(control.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) return;
      // Requests are small and answered at once; a client that sends nothing is dropped.
      auto got = recv_packet(c.get(), 1000);
      if (!got || !*got) continue;
      auto req = nlohmann::json::parse((*got)->text, nullptr, false);
      // handle_request owns the attached fd from here (keeps or closes it).
      int fd = (*got)->fd.release();
      nlohmann::json reply = req.is_object() ? handle_request(req, fd)
                                             : nlohmann::json{{"ok", false}, {"error", "not JSON"}};
      if (!req.is_object() && fd >= 0) ::close(fd);
      (void)send_packet(c.get(), reply.dump());
    }
  }

  void accept_events() {
    for (;;) {
      Fd c(::accept4(events.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) return;
      sink.subscribers().add(std::move(c));
    }
  }

  static int on_ringbuf(void* ctx, void* data, size_t size) {
    auto* d = static_cast<Daemon*>(ctx);
    if (size < sizeof(vg_event)) return 0;
    d->sink.emit(from_bpf(*static_cast<const vg_event*>(data), d->containers));
    return 0;
  }

  uint64_t ringbuf_dropped() { return stat_total(stats.get(), VG_STAT_DROPPED); }

  // `veil-guard load --replace` pins new maps: follow them.
  uint32_t events_map_id = 0;
  static uint32_t map_id(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
  }
  void open_bpf() {
    if (rb) {
      unwatch(ring_buffer__epoll_fd(rb));
      ring_buffer__consume(rb);
      ring_buffer__free(rb);
      rb = nullptr;
    }
    auto ev = bpf_sys::obj_get(inst.pin("events"));
    if (!ev) return;
    events_map_id = map_id(ev->get());
    rb = ring_buffer__new(ev->get(), &Daemon::on_ringbuf, this, nullptr);
    if (!rb) return;
    watch(ring_buffer__epoll_fd(rb));
    if (auto a = bpf_sys::obj_get(inst.pin("approved"))) approved = std::move(*a);
    if (auto s = bpf_sys::obj_get(inst.pin("stats"))) stats = std::move(*s);
    // Losses while no daemon was reading are reported now; the file remembers what an earlier
    // daemon reported already (the kernel counter lives as long as the maps).
    uint64_t reported = 0;
    if (auto t = read_file(drops_file()); t && first_open)
      reported = std::strtoull(t->c_str(), nullptr, 10);
    uint64_t now = ringbuf_dropped();
    ringbuf_dropped_seen = std::min(reported, now);
    first_open = false;
  }
  bool first_open = true;
  std::string drops_file() const { return inst.run_dir + "/ringbuf-drops-reported"; }
  void follow_reload() {
    auto ev = bpf_sys::obj_get(inst.pin("events"));
    if (!ev) return;
    uint32_t id = map_id(ev->get());
    if (id != 0 && id != events_map_id) {
      open_bpf();
      sink.emit({{"type", "daemon"}, {"time", log::rfc3339_now()}, {"state", "reloaded"}});
    }
  }

  void tick() {
    follow_reload();
    uint64_t dropped = ringbuf_dropped();
    if (dropped > ringbuf_dropped_seen) {
      sink.emit({{"type", "loss"},
                 {"source", "ringbuf"},
                 {"count", dropped - ringbuf_dropped_seen},
                 {"total", dropped},
                 {"reason", "the kernel's ring buffer was full"}});
      ringbuf_dropped_seen = dropped;
      (void)write_file_atomic(drops_file(), std::to_string(dropped), 0600);
    }
    sink.subscribers().flush();
    // Containers whose init is gone and whose registry file was removed (veil delete): forget.
    std::vector<uint64_t> gone;
    for (auto& [id, c] : containers.all())
      if (!linux_proc::alive(c.pid, c.pid_start_time) && !path_exists(inst.registry_file(id)))
        gone.push_back(id);
    for (uint64_t id : gone) forget(id);
  }
};

}  // namespace

Result<> run_daemon(const Instance& inst, const DaemonOptions& opts) {
  VEIL_CHECK(mkdir_all(inst.run_dir, 0700));
  if (daemon_running(inst)) return fail("a guard daemon already serves " + inst.run_dir);
  Daemon d(inst, opts);
  VEIL_CHECK(d.sink.open());
  d.epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!d.epoll) return fail_errno("epoll_create1");

  // The BPF side: load once per host (idempotent), then read its ring buffer.
  auto loaded = load(inst, false);
  if (loaded) {
    if (!loaded->reused)
      if (auto r = reregister_all(inst); !r) log::warn("guard: " + r.error().str());
    d.open_bpf();
    if (!d.rb) return fail("open the guard's ring buffer", errno);
    log::info("guard: BPF " + mechs_string(loaded->mechs));
  } else {
    log::warn("guard: running without BPF (" + loaded.error().str() +
              "): only fanotify and seccomp decisions are reported");
  }
  if (auto r = d.gate.open(); r) {
    d.have_fanotify = true;
    d.watch(d.gate.fd());
  } else {
    log::warn("guard: " + r.error().str() + ": drift/fileless are not blocked before exec");
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGPIPE);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  d.sigfd.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  d.watch(d.sigfd.get());
  d.timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  itimerspec its{{1, 0}, {1, 0}};
  timerfd_settime(d.timer.get(), 0, &its, nullptr);
  d.watch(d.timer.get());

  d.control = VEIL_TRY(listen_unix(inst.control_socket(), SOCK_SEQPACKET));
  d.watch(d.control.get());
  d.events = VEIL_TRY(listen_unix(inst.events_socket(), SOCK_STREAM));
  d.watch(d.events.get());

  // After a restart: guard again what is still running (seccomp notify fds died with the old
  // daemon: those calls now fail with ENOSYS, still refused).
  for (uint64_t id : d.containers.scan()) {
    Container* c = d.containers.find(id);
    if (!c) continue;
    if (!linux_proc::alive(c->pid, c->pid_start_time)) continue;
    if (d.have_fanotify)
      if (auto r = d.gate.mark(*c); !r) log::warn("guard: " + r.error().str());
  }
  d.sink.emit({{"type", "daemon"},
               {"time", log::rfc3339_now()},
               {"state", "started"},
               {"bpf", loaded ? mechs_string(loaded->mechs) : "none"},
               {"fanotify", d.have_fanotify},
               {"containers", d.containers.all().size()}});

  epoll_event evs[32];
  for (;;) {
    int n = ::epoll_wait(d.epoll.get(), evs, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (d.rb && fd == ring_buffer__epoll_fd(d.rb)) {
        ring_buffer__consume(d.rb);
      } else if (fd == d.gate.fd()) {
        d.gate.handle(d.containers, d.sink, d.approved.get());
      } else if (fd == d.control.get()) {
        d.accept_control();
      } else if (fd == d.events.get()) {
        d.accept_events();
      } else if (fd == d.timer.get()) {
        uint64_t x;
        (void)!::read(fd, &x, sizeof(x));
        d.tick();
      } else if (fd == d.sigfd.get()) {
        signalfd_siginfo si;
        if (::read(fd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGPIPE) {
          if (d.rb) ring_buffer__consume(d.rb);
          d.sink.emit({{"type", "daemon"}, {"time", log::rfc3339_now()}, {"state", "stopped"}});
          ::unlink(inst.control_socket().c_str());
          ::unlink(inst.events_socket().c_str());
          return {};
        }
      } else if (d.notify_owner.count(fd)) {
        if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
          d.drop_notify_fd(fd);
          continue;
        }
        Container* c = d.containers.find(d.notify_owner[fd]);
        if (!d.syscalls.handle(fd, c, d.sink)) d.drop_notify_fd(fd);
      }
    }
  }
}

}  // namespace veil::guard
