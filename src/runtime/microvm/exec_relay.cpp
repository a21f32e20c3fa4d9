#include "runtime/microvm/exec_relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/packet.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "base/unix_address.hpp"
#include "vm/reports.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;
using vm::FrameType;

namespace {

Result<Fd> connect_monitor(const std::string& vm_dir) {
  std::string path = vm_dir + "/exec.sock";
  Fd dir;
  auto a = VEIL_TRY(unix_address(path, dir));
  Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("socket");
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail_errno("connect to the microVM's monitor at " + path);
  return s;
}

// The next message from the monitor (an error when it went away or timed out).
Result<json> answer(int sock, int timeout_ms) {
  auto pk = VEIL_TRY(recv_packet(sock, timeout_ms));
  if (!pk) return fail("the microVM's monitor went away");
  auto j = json::parse(pk->text, nullptr, false);
  if (!j.is_object()) return fail("bad answer from the microVM's monitor");
  if (j.contains("error") && j["error"].is_string()) return fail(j["error"].get<std::string>());
  return j;
}

}  // namespace

Result<Fd> listen_exec(const std::string& path) {
  Fd dir;
  auto a = VEIL_TRY(unix_address(path, dir));
  Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) return fail_errno("exec socket");
  ::unlink(path.c_str());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail_errno("bind " + path);
  ::chmod(path.c_str(), 0600);
  if (::listen(s.get(), 16) != 0) return fail_errno("listen " + path);
  return s;
}

Result<ExecClient> accept_exec_client(int listener) {
  ExecClient c;
  c.sock_.reset(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!c.sock_) return fail_errno("accept");
  auto pk = VEIL_TRY(recv_packet(c.sock_.get(), 5'000));
  if (!pk) return fail("the client went away");
  auto j = json::parse(pk->text, nullptr, false);
  if (j.is_object() && j.contains("update") && j["update"].is_object()) {
    c.update = j["update"];
    return c;
  }
  if (!j.is_object() || !j.contains("process") || !j["process"].is_object() || !pk->fd ||
      pk->more.size() != 2) {
    c.say({{"error", "exec: bad request"}});
    return fail("bad exec request");
  }
  c.in_ = std::move(pk->fd);
  c.out_ = std::move(pk->more[0]);
  c.err_ = std::move(pk->more[1]);
  c.process = j["process"];
  ::fcntl(c.in_.get(), F_SETFL, ::fcntl(c.in_.get(), F_GETFL) | O_NONBLOCK);
  return c;
}

void ExecClient::say(const json& j) {
  (void)send_packet(sock_.get(), j.dump());
}

bool ExecClient::on_frame(const vm::Frame& f) {
  switch (f.type) {
    case FrameType::stdout_data:
    case FrameType::stderr_data: {
      int fd = f.type == FrameType::stdout_data ? out_.get() : err_.get();
      (void)vm::write_all(fd, f.payload, 60'000);
      return true;
    }
    case FrameType::updated:
      say({{"ok", true}});
      return false;
    case FrameType::started:
      say({{"pid", vm::reported_pid(f.payload).value_or(0)}});
      return true;
    case FrameType::exit: {
      int ws = vm::exit_wait_status(f.payload);
      if (ws & 0x7f)
        say({{"signal", ws & 0x7f}});
      else
        say({{"status", (ws >> 8) & 0xff}});
      return false;
    }
    case FrameType::error:
      say({{"error", vm::error_message(f.payload)}});
      return false;
    default:
      return true;
  }
}

bool ExecClient::on_stdin(uint32_t proc, const SendFrame& send) {
  (void)proc;
  char buf[65536];
  ssize_t n = ::read(in_.get(), buf, sizeof buf);
  if (n > 0) {
    send(FrameType::stdin_data, std::string_view(buf, static_cast<size_t>(n)));
  } else if (n == 0 || errno != EAGAIN) {
    in_.reset();
    send(FrameType::stdin_close, {});
  }
  return true;
}

bool ExecClient::on_client(uint32_t, const SendFrame& send) {
  auto pk = recv_packet(sock_.get(), 0);
  if (!pk || !*pk) {
    // The client is gone; the process runs on (as with runc), its output is dropped.
    out_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    err_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    sock_.reset();
    return true;
  }
  auto j = json::parse((*pk)->text, nullptr, false);
  if (j.is_object() && j.contains("signal") && j["signal"].is_number_integer())
    send(FrameType::signal, json{{"signal", j["signal"].get<int>()}}.dump());
  return true;
}

Result<> update_in_vm(const std::string& vm_dir, const json& resources) {
  auto s = VEIL_TRY(connect_monitor(vm_dir));
  VEIL_CHECK(send_packet(s.get(), json{{"update", resources}}.dump()));
  auto j = answer(s.get(), 30'000);
  if (!j) return std::unexpected(j.error().wrap("update in the microVM"));
  return {};
}

Result<int> exec_in_vm(const std::string& vm_dir, const json& process,
                       const std::function<void(int)>& on_started, int* signal) {
  auto s = VEIL_TRY(connect_monitor(vm_dir));
  VEIL_CHECK(send_packet(s.get(), json{{"process", process}}.dump(), {0, 1, 2}));
  auto first = answer(s.get(), 60'000);
  if (!first) return std::unexpected(first.error().wrap("exec in the microVM"));
  if (on_started) on_started(first->value("pid", 0));

  sigset_t fwd;
  sigfillset(&fwd);
  for (int sig : {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGCHLD, SIGPIPE})
    sigdelset(&fwd, sig);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &fwd, &old);
  Fd sfd(::signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK));
  Result<int> code = fail("exec: no exit status");
  for (;;) {
    struct pollfd p[2] = {{s.get(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) {
      signalfd_siginfo si;
      while (::read(sfd.get(), &si, sizeof si) == sizeof si)
        (void)send_packet(s.get(), json{{"signal", si.ssi_signo}}.dump());
    }
    if (!p[0].revents) continue;
    auto j = answer(s.get(), 0);
    if (!j) {
      code = std::unexpected(j.error().wrap("exec in the microVM"));
      break;
    }
    if (j->contains("signal")) {
      int sig = (*j)["signal"].get<int>();
      if (signal) *signal = sig;
      code = 128 + sig;
      break;
    }
    if (j->contains("status")) {
      code = (*j)["status"].get<int>();
      break;
    }
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace veil::runtime::microvm
