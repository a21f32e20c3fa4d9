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

#include "base/strings.hpp"
#include "base/time.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;
using vm::FrameType;

namespace {

Result<sockaddr_un> address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return fail("exec socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Reads one '\n'-terminated line (with any fds passed alongside) within timeout_ms.
Result<std::string> read_line(int fd, std::string& buf, int timeout_ms, std::vector<int>* fds) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    int left = static_cast<int>(deadline - monotonic_ms());
    if (left <= 0) return fail("exec: no message within the time limit");
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, left) <= 0) continue;
    char data[4096];
    char control[CMSG_SPACE(sizeof(int) * 3)];
    struct iovec iov {
      data, sizeof data
    };
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return fail("exec: the other side went away");
    for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; ++i) {
          int got;
          std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          if (fds)
            fds->push_back(got);
          else
            ::close(got);
        }
      }
    buf.append(data, static_cast<size_t>(n));
  }
}

}  // namespace

Result<Fd> listen_exec(const std::string& path) {
  auto a = VEIL_TRY(address(path));
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) return fail_errno("exec socket");
  ::unlink(path.c_str());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail_errno("bind " + path);
  ::chmod(path.c_str(), 0600);
  if (::listen(s.get(), 16) != 0) return fail_errno("listen " + path);
  return s;
}

Result<ExecClient> accept_exec_client(int listener, uint32_t) {
  ExecClient c;
  c.sock_.reset(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!c.sock_) return fail_errno("accept");
  std::vector<int> fds;
  auto line = read_line(c.sock_.get(), c.line_, 5'000, &fds);
  for (size_t i = 0; i < fds.size(); ++i) {
    Fd f(fds[i]);
    if (i == 0) c.in_ = std::move(f);
    if (i == 1) c.out_ = std::move(f);
    if (i == 2) c.err_ = std::move(f);
  }
  if (!line) return std::unexpected(line.error());
  auto j = json::parse(*line, nullptr, false);
  if (j.is_object() && j.contains("update") && j["update"].is_object()) {
    c.update = j["update"];
    return c;
  }
  if (!j.is_object() || !j.contains("process") || !j["process"].is_object() || !c.out_ || !c.err_) {
    c.say({{"error", "exec: bad request"}});
    return fail("bad exec request");
  }
  c.process = j["process"];
  if (c.in_) ::fcntl(c.in_.get(), F_SETFL, ::fcntl(c.in_.get(), F_GETFL) | O_NONBLOCK);
  return c;
}

void ExecClient::say(const json& j) {
  std::string s = j.dump() + "\n";
  (void)::send(sock_.get(), s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
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
    case FrameType::started: {
      auto j = json::parse(f.payload, nullptr, false);
      say({{"pid", j.is_object() ? j.value("pid", 0) : 0}});
      return true;
    }
    case FrameType::exit: {
      auto j = json::parse(f.payload, nullptr, false);
      say(j.is_object() ? j : json{{"exit", 255}});
      return false;
    }
    case FrameType::error: {
      auto j = json::parse(f.payload, nullptr, false);
      say({{"error", j.is_object() ? j.value("message", f.payload) : f.payload}});
      return false;
    }
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

bool ExecClient::on_client(uint32_t proc, const SendFrame& send) {
  (void)proc;
  char buf[512];
  ssize_t n = ::recv(sock_.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    // The client is gone; the process runs on (as with runc), its output is dropped.
    out_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    err_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    sock_.reset();
    return true;
  }
  if (n < 0) return true;
  line_.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = line_.find('\n')) != std::string::npos) {
    auto j = json::parse(line_.substr(0, nl), nullptr, false);
    line_.erase(0, nl + 1);
    if (j.is_object() && j.contains("signal") && j["signal"].is_number_integer())
      send(FrameType::signal, json{{"signal", j["signal"].get<int>()}}.dump());
  }
  return true;
}

Result<> update_in_vm(const std::string& vm_dir, const json& resources) {
  std::string path = vm_dir + "/exec.sock";
  auto a = VEIL_TRY(address(path));
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("socket");
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail_errno("connect to the microVM's monitor at " + path);
  std::string req = json{{"update", resources}}.dump() + "\n";
  if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return fail_errno("send the update");
  std::string buf;
  auto line = VEIL_TRY(read_line(s.get(), buf, 30'000, nullptr));
  auto j = json::parse(line, nullptr, false);
  if (j.is_object() && j.contains("error"))
    return fail("update in the microVM: " + j["error"].get<std::string>());
  if (!j.is_object() || !j.value("ok", false)) return fail("update: bad answer from the monitor");
  return {};
}

Result<int> exec_in_vm(const std::string& vm_dir, const json& process,
                       const std::function<void(int)>& on_started, int* signal) {
  std::string path = vm_dir + "/exec.sock";
  auto a = VEIL_TRY(address(path));
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("socket");
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail_errno("connect to the microVM's monitor at " + path);
  std::string req = json{{"process", process}}.dump() + "\n";
  int fds[3] = {0, 1, 2};
  struct iovec iov {
    req.data(), req.size()
  };
  char control[CMSG_SPACE(sizeof fds)];
  std::memset(control, 0, sizeof control);
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  auto* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  if (::sendmsg(s.get(), &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return fail_errno("send the exec request");

  std::string buf;
  auto first = VEIL_TRY(read_line(s.get(), buf, 60'000, nullptr));
  auto fj = json::parse(first, nullptr, false);
  if (!fj.is_object()) return fail("exec: bad answer from the monitor");
  if (fj.contains("error")) return fail("exec in the microVM: " + fj["error"].get<std::string>());
  if (on_started) on_started(fj.value("pid", 0));

  sigset_t fwd;
  sigfillset(&fwd);
  for (int sig : {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGCHLD, SIGPIPE})
    sigdelset(&fwd, sig);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &fwd, &old);
  Fd sfd(::signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK));
  int code = 255;
  for (;;) {
    struct pollfd p[2] = {{s.get(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    if (buf.find('\n') == std::string::npos && ::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) {
      signalfd_siginfo si;
      while (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        std::string l = json{{"signal", si.ssi_signo}}.dump() + "\n";
        (void)::send(s.get(), l.data(), l.size(), MSG_NOSIGNAL);
      }
    }
    if (buf.find('\n') == std::string::npos && !(p[0].revents)) continue;
    auto line = read_line(s.get(), buf, 60'000, nullptr);
    if (!line) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      return fail("exec: the microVM's monitor went away");
    }
    auto j = json::parse(*line, nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("error")) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      return fail("exec in the microVM: " + j["error"].get<std::string>());
    }
    if (j.contains("signal")) {
      code = 128 + j["signal"].get<int>();
      if (signal) *signal = j["signal"].get<int>();
    }
    if (j.contains("status")) code = j["status"].get<int>();
    if (j.contains("signal") || j.contains("status")) break;
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace veil::runtime::microvm
