#include "runtime/microvm/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <map>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "base/subprocess.hpp"
#include "base/time.hpp"
#include "guard/control.hpp"
#include "guard/instance.hpp"
#include "runtime/microvm/exec_relay.hpp"
#include "runtime/microvm/guest_guard.hpp"
#include "runtime/microvm/guest_start.hpp"
#include "vm/image_cache.hpp"
#include "vm/net.hpp"
#include "vm/reports.hpp"
#include "vm/virtiofs.hpp"

namespace veil::runtime::microvm {
namespace {

using nlohmann::json;
using vm::FrameType;

class Monitor {
 public:
  explicit Monitor(MonitorConfig& c) : cfg_(c) {}
  Result<> prepare();
  [[noreturn]] void serve();

 private:
  void send(FrameType t, uint32_t proc, std::string_view payload = {}) {
    std::string frame = vm::encode_frame(t, proc, payload);
    if (auto r = vm::write_all(guest_.agent.get(), frame, 30'000); !r)
      log::warn("microvm " + cfg_.id + ": " + r.error().str());
    if (t == FrameType::create) ::explicit_bzero(frame.data(), frame.size());  // may hold secrets
  }
  void on_frame(vm::Frame f);
  void on_signal(int sig);
  void send_size();
  void forward_event(const std::string& payload);
  void accept_exec();
  [[noreturn]] void finish(int wait_status);
  [[noreturn]] void die(const std::string& why);

  MonitorConfig& cfg_;
  vm::Guest guest_;
  vm::NicConfig nic_;
  bool plumbed_ = false;
  std::optional<vm::Template> template_;
  std::vector<vm::SharedDir> shared_;  // one virtiofsd per volume
  vm::CachedImage image_;              // the rootfs image, locked against eviction

 public:
  // Everything prepare() may have made: QEMU, virtiofsd, the VM's files, the tc redirections.
  void undo() {
    vm::stop_guest(guest_);
    for (auto& d : shared_)
      if (d.pid > 0 && ::kill(d.pid, SIGKILL) == 0) ::waitpid(d.pid, nullptr, 0);
    shared_.clear();
    if (plumbed_) vm::unplumb(nic_);
    (void)remove_all(cfg_.vm_dir);
  }

 private:
  bool started_ = false;
  Fd stdin_;  // our fd 0 while it is forwarded
  Fd exec_listener_;
  std::map<uint32_t, ExecClient> execs_;
  uint32_t next_exec_ = 1;
};

Result<> Monitor::prepare() {
  VEIL_CHECK(mkdir_all(cfg_.vm_dir, 0700));
  int64_t t0 = monotonic_ms();
  image_ = VEIL_TRY(build_image(cfg_.rootfs));  // held (locked) for the sandbox's life
  const std::string& disk = image_.path;
  int64_t t_image = monotonic_ms();
  // The template stays locked (shared) for the sandbox's life: nobody removes it under us.
  std::optional<vm::Template>& tmpl = template_;
  // Volumes (virtio-fs) cannot be in a snapshot: such a sandbox boots cold.
  if (cfg_.use_template && cfg_.volumes.empty())
    tmpl = VEIL_TRY(vm::ensure_template(cfg_.assets, cfg_.shape, cfg_.timeout_ms));
  vm::Devices dev;
  for (const auto& v : cfg_.volumes) {
    auto d = vm::start_virtiofsd(v.source, cfg_.vm_dir + "/" + v.tag + ".sock",
                                 cfg_.vm_dir + "/virtiofsd.log");
    if (!d) return std::unexpected(d.error().wrap("volume " + v.source));
    dev.fs_fds.push_back(d->qemu_end.get());
    dev.fs_tags.push_back(v.tag);
    shared_.push_back(std::move(*d));
  }
  int64_t t_tmpl = monotonic_ms();
  Fd tap;
  if (!cfg_.hold_netns.empty()) VEIL_CHECK(vm::enter_netns(cfg_.hold_netns));
  if (!cfg_.netns.empty()) {
    tap = VEIL_TRY(vm::plumb_netns(cfg_.netns, &nic_));
    plumbed_ = true;
    // For `delete` when we die without undoing it (SIGKILL).
    (void)write_file_atomic(cfg_.vm_dir + "/net.json",
                            json{{"netns", cfg_.netns}, {"ifname", nic_.ifname}}.dump(), 0600);
  }
  dev.name = cfg_.vm_dir;
  dev.tap_fd = tap.get();
  dev.user_net = cfg_.user_net;
  guest_ = VEIL_TRY(vm::start_guest(cfg_.assets, cfg_.shape, tmpl ? &*tmpl : nullptr, disk,
                                    cfg_.vm_dir + "/qemu.log", cfg_.timeout_ms, dev));
  for (auto& d : shared_) d.qemu_end.reset();  // QEMU has its own copy
  json net;
  if (plumbed_) net = nic_.to_json();
  if (cfg_.user_net)
    net = {{"address", "10.0.2.15"}, {"prefix", 24}, {"gateway", "10.0.2.2"}, {"mtu", 1500}};
  std::string kernel = VEIL_TRY(greet(guest_, net, cfg_.timeout_ms));
  int64_t t_hello = monotonic_ms();
  {
    std::string request = serialize_create(cfg_.create_request);
    send(FrameType::create, 0, request);
    // The guest has the secrets now: none stays in this long-lived process's memory.
    wipe_create(cfg_.create_request, request);
  }
  auto created = VEIL_TRY(vm::wait_frame(guest_.agent.get(), guest_.reader, FrameType::created, 0,
                                         cfg_.timeout_ms, "create in the guest"));
  log::debug(strprintf(
      "microvm %s: %s, kernel %s; image %lld ms, template %lld ms, guest %lld ms, "
      "create %lld ms %s",
      cfg_.id.c_str(), guest_.how.c_str(), vm::error_message(kernel).c_str(),
      static_cast<long long>(t_image - t0), static_cast<long long>(t_tmpl - t_image),
      static_cast<long long>(t_hello - t_tmpl), static_cast<long long>(monotonic_ms() - t_hello),
      vm::error_message(created.payload).c_str()));
  // `veil exec` connects here.
  exec_listener_ = VEIL_TRY(listen_exec(exec_socket(cfg_.vm_dir)));
  return {};
}

void Monitor::on_signal(int sig) {
  // With a terminal, SIGWINCH means the host pty (our controlling terminal) was resized.
  if (sig == SIGWINCH && cfg_.tty_fd >= 0) return send_size();
  send(FrameType::signal, 0, json{{"signal", sig}}.dump());
}

void Monitor::forward_event(const std::string& payload) {
  forward_guest_event(payload, cfg_.id);
}

void Monitor::send_size() {
  struct winsize ws {};
  if (::ioctl(cfg_.tty_fd, TIOCGWINSZ, &ws) == 0)
    send(FrameType::resize, 0, json{{"rows", ws.ws_row}, {"cols", ws.ws_col}}.dump());
}

void Monitor::on_frame(vm::Frame f) {
  if (f.proc != 0) {
    auto it = execs_.find(f.proc);
    if (it == execs_.end()) return;
    if (!it->second.on_frame(f)) execs_.erase(it);
    return;
  }
  switch (f.type) {
    case FrameType::stdout_data:
    case FrameType::stderr_data:
      (void)vm::write_all(cfg_.tty_fd >= 0                   ? cfg_.tty_fd
                          : f.type == FrameType::stdout_data ? 1
                                                             : 2,
                          f.payload, 60'000);
      return;
    case FrameType::exit:
      finish(vm::exit_wait_status(f.payload));
    case FrameType::error:
      log::warn("microvm " + cfg_.id + ": agent: " + vm::error_message(f.payload));
      return;
    case FrameType::event:
      return forward_event(f.payload);
    default:
      return;
  }
}

void Monitor::accept_exec() {
  auto c = accept_exec_client(exec_listener_.get());
  if (!c) {
    log::warn("microvm " + cfg_.id + ": exec: " + c.error().str());
    return;
  }
  uint32_t proc = next_exec_++;
  if (!c->update.is_null())
    send(FrameType::update, proc, json{{"resources", c->update}}.dump());
  else
    send(FrameType::exec, proc, json{{"process", c->process}}.dump());
  execs_.emplace(proc, std::move(*c));
}

void Monitor::finish(int wait_status) {
  undo();
  if (wait_status & 0x7f) {  // killed by a signal (vm::exit_wait_status checked it)
    int sig = wait_status & 0x7f;
    ::signal(sig, SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    ::kill(::getpid(), sig);
  }
  ::_exit((wait_status >> 8) & 0xff);
}

void Monitor::die(const std::string& why) {
  std::string tail = vm::qemu_log_tail(cfg_.vm_dir + "/qemu.log");
  log::error("microvm " + cfg_.id + ": " + why + (tail.empty() ? "" : " (QEMU: " + tail + ")"));
  undo();
  ::_exit(255);
}

void Monitor::serve() {
  sigset_t fwd;
  sigfillset(&fwd);
  sigdelset(&fwd, SIGKILL);
  sigdelset(&fwd, SIGSTOP);
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) sigdelset(&fwd, s);
  Fd sfd(::signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK));
  Fd fifo(cfg_.fifo_fd);
  for (;;) {
    std::vector<pollfd> fds{{guest_.agent.get(), POLLIN, 0},
                            {sfd.get(), POLLIN, 0},
                            {fifo.get(), fifo ? short(POLLIN) : short(0), 0},
                            {stdin_.get(), stdin_ ? short(POLLIN) : short(0), 0},
                            {exec_listener_.get(), POLLIN, 0}};
    std::vector<uint32_t> exec_ids;
    for (auto& [id, c] : execs_)
      if (c.stdin_fd() >= 0) {
        fds.push_back({c.stdin_fd(), POLLIN, 0});
        exec_ids.push_back(id);
      }
    for (auto& [id, c] : execs_) {
      fds.push_back({c.sock_fd(), POLLIN, 0});
      exec_ids.push_back(id | 0x80000000u);
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) die("poll");
    if (fds[0].revents) {
      char buf[65536];
      ssize_t n = ::read(guest_.agent.get(), buf, sizeof buf);
      if (n == 0) die("the VM stopped (control channel closed)");
      if (n > 0) {
        guest_.reader.feed(buf, static_cast<size_t>(n));
        for (;;) {
          auto f = guest_.reader.next();
          if (!f) die(f.error().str());
          if (!*f) break;
          on_frame(std::move(**f));
        }
      }
    }
    if (fds[1].revents) {
      signalfd_siginfo si;
      while (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
          int st;
          if (::waitpid(guest_.qemu, &st, WNOHANG) == guest_.qemu) {
            guest_.qemu = -1;
            die("QEMU exited");
          }
          for (size_t i = 0; i < shared_.size(); ++i)
            if (shared_[i].pid > 0 && ::waitpid(shared_[i].pid, &st, WNOHANG) == shared_[i].pid) {
              shared_[i].pid = -1;  // its volume is gone from under the workload
              die("virtiofsd of volume " + cfg_.volumes[i].source + " exited");
            }
          continue;
        }
        if (si.ssi_signo == SIGPIPE) continue;
        on_signal(static_cast<int>(si.ssi_signo));
      }
    }
    if (fifo && fds[2].revents) {  // `veil start`
      char b;
      if (::read(fifo.get(), &b, 1) == 1) {
        fifo.reset();
        started_ = true;
        send(FrameType::start, 0);
        stdin_.reset(::fcntl(cfg_.tty_fd >= 0 ? cfg_.tty_fd : 0, F_DUPFD_CLOEXEC, 3));
        if (cfg_.tty_fd >= 0) send_size();
        if (stdin_) ::fcntl(stdin_.get(), F_SETFL, ::fcntl(stdin_.get(), F_GETFL) | O_NONBLOCK);
      }
    }
    if (stdin_ && fds[3].revents) {
      char buf[65536];
      ssize_t n = ::read(stdin_.get(), buf, sizeof buf);
      if (n > 0) {
        send(FrameType::stdin_data, 0, std::string_view(buf, static_cast<size_t>(n)));
      } else if (n == 0 || errno != EAGAIN) {
        stdin_.reset();
        send(FrameType::stdin_close, 0);
      }
    }
    if (fds[4].revents & POLLIN) accept_exec();
    for (size_t i = 0; i < exec_ids.size(); ++i) {
      if (!fds[5 + i].revents) continue;
      uint32_t id = exec_ids[i] & 0x7fffffffu;
      auto it = execs_.find(id);
      if (it == execs_.end()) continue;
      bool keep =
          (exec_ids[i] & 0x80000000u)
              ? it->second.on_client(id, [&](FrameType t, std::string_view p) { send(t, id, p); })
              : it->second.on_stdin(id, [&](FrameType t, std::string_view p) { send(t, id, p); });
      if (!keep) execs_.erase(it);
    }
  }
}

}  // namespace

void run_monitor(MonitorConfig& cfg) {
  if (cfg.lock_fd >= 0) ::close(cfg.lock_fd);
  ::setsid();  // terminal signals reach the workload through `run`'s forwarding, once
  // The host pty becomes our controlling terminal: its resizes arrive as SIGWINCH.
  if (cfg.tty_fd >= 0) (void)::ioctl(cfg.tty_fd, TIOCSCTTY, 0);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  Monitor m(cfg);
  auto r = m.prepare();
  std::string msg = r ? "ok\n" : "error " + r.error().str();
  (void)!::write(cfg.status_fd, msg.data(), msg.size());
  ::close(cfg.status_fd);
  if (!r) {
    m.undo();
    ::_exit(1);
  }
  m.serve();
}

}  // namespace veil::runtime::microvm
