// `veil exec` into a microVM container: the process object is built here (from --process or the
// container's own process with the given args) and run by the guest's veil (exec_relay.hpp).
#include "runtime/microvm/exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "runtime/microvm/exec_relay.hpp"
#include "runtime/microvm/handler.hpp"
#include "runtime/terminal.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;

namespace {

Result<json> build_process(const State& st, const ExecOptions& o) {
  json proc;
  if (!o.process_file.empty()) {
    auto text = read_file(o.process_file);
    if (!text) return std::unexpected(text.error().wrap("--process"));
    proc = json::parse(*text, nullptr, false);
    if (!proc.is_object()) return fail("--process " + o.process_file + ": not a JSON object");
  } else {
    auto text = read_file(st.bundle + "/config.json");
    if (!text) return std::unexpected(text.error().wrap("exec: the container's config"));
    auto config = json::parse(*text, nullptr, false);
    if (!config.is_object() || !config.contains("process"))
      return fail("exec: the container's config.json has no process");
    proc = config["process"];
    if (o.args.empty()) return fail("exec: no command given (ARGS or --process)");
    proc["args"] = o.args;
    proc["terminal"] = false;
  }
  for (const auto& e : o.env) {
    if (e.find('=') == std::string::npos) return fail("--env " + e + ": expected KEY=value");
    if (!proc.contains("env") || !proc["env"].is_array()) proc["env"] = json::array();
    std::string key = e.substr(0, e.find('=') + 1);
    json kept = json::array();
    for (const auto& x : proc["env"])
      if (!x.is_string() || !x.get<std::string>().starts_with(key)) kept.push_back(x);
    kept.push_back(e);
    proc["env"] = kept;
  }
  if (!o.cwd.empty()) proc["cwd"] = o.cwd;
  if (!o.user.empty()) {
    auto parts = split(o.user, ':');
    char* end = nullptr;
    unsigned long uid = std::strtoul(parts[0].c_str(), &end, 10);
    if (parts[0].empty() || *end) return fail("--user " + o.user + ": expected uid[:gid]");
    proc["user"]["uid"] = uid;
    if (parts.size() > 1) {
      unsigned long gid = std::strtoul(parts[1].c_str(), &end, 10);
      if (parts[1].empty() || *end) return fail("--user " + o.user + ": expected uid[:gid]");
      proc["user"]["gid"] = gid;
    }
  }
  if (o.no_new_privs) proc["noNewPrivileges"] = true;
  return proc;
}

}  // namespace

Result<int> exec(const Globals& g, const State& st, const ExecOptions& o) {
  auto unsupported = [](const char* what) {
    return fail(std::string(what) + ": not supported for a microVM container yet");
  };
  if (o.preserve_fds > 0) return unsupported("--preserve-fds");
  if (!o.caps.empty()) return unsupported("--cap");
  if (!o.cgroups.empty()) return unsupported("--cgroup");
  if (!o.additional_gids.empty()) return unsupported("--additional-gids");
  auto proc = VEIL_TRY(build_process(st, o));
  if (o.tty) proc["terminal"] = true;
  bool terminal = proc.value("terminal", false);
  if (terminal && o.detach && o.console_socket.empty())
    return fail("exec: a terminal with --detach needs --console-socket");
  if (!terminal && !o.console_socket.empty())
    return fail("exec: --console-socket needs --tty (or process.terminal)");
  std::string where = "exec in container \"" + st.id + "\"";
  // A terminal: the guest's veil makes the pty and relays it to the exec's stdio there; here the
  // stdio is ours in raw mode (foreground), or a raw host pty whose master goes to
  // --console-socket (detached, containerd's shim).
  Fd tty_master, tty_slave;
  if (terminal) {
    struct winsize ws {};
    if (!o.console_socket.empty()) {
      tty_master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
      if (!tty_master || ::grantpt(tty_master.get()) != 0 || ::unlockpt(tty_master.get()) != 0)
        return fail_errno("open a pty for the exec's terminal");
      tty_slave.reset(::open(::ptsname(tty_master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
      if (!tty_slave) return fail_errno("open the pty's slave");
      struct termios t;
      if (::tcgetattr(tty_slave.get(), &t) == 0) {
        ::cfmakeraw(&t);
        ::tcsetattr(tty_slave.get(), TCSANOW, &t);
      }
      VEIL_CHECK(send_to_console_socket(o.console_socket, tty_master.get()));
    } else if (::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
      proc["consoleSize"] = {{"height", ws.ws_row}, {"width", ws.ws_col}};
    }
  }
  if (!o.detach) {
    // --pid-file: the exec'd process lives in the guest; its pid there is what there is.
    auto started = [&](int guest_pid) {
      if (!o.pid_file.empty()) (void)write_file_atomic(o.pid_file, std::to_string(guest_pid));
    };
    // Our terminal passes keys through: the guest's pty does the line discipline.
    struct termios saved {};
    bool raw = terminal && ::isatty(0) && ::tcgetattr(0, &saved) == 0;
    if (raw) {
      struct termios t = saved;
      ::cfmakeraw(&t);
      ::tcsetattr(0, TCSANOW, &t);
    }
    auto code = exec_in_vm(vm_dir(g, st.id), proc, started, nullptr);
    if (raw) ::tcsetattr(0, TCSANOW, &saved);
    if (!code) return std::unexpected(code.error().wrap(where));
    return code;
  }
  // Detached (containerd's shim): the caller waits for and signals the pid it gets, which must
  // be a host process. A relay on the host stands for the exec'd process: it forwards signals and
  // exits as the process did. Its pid goes to --pid-file once the process runs.
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return fail_errno("pipe");
  pid_t relay = ::fork();
  if (relay < 0) return fail_errno("fork the exec relay");
  if (relay == 0) {
    ::close(ready[0]);
    if (tty_slave) {  // the exec's stdio is the host pty
      for (int fd = 0; fd < 3; ++fd) ::dup2(tty_slave.get(), fd);
      ::setsid();
      (void)::ioctl(0, TIOCSCTTY, 0);
    }
    int sig = 0;
    auto code = exec_in_vm(
        vm_dir(g, st.id), proc,
        [&](int) {
          (void)!::write(ready[1], "1", 1);
          ::close(ready[1]);
        },
        &sig);
    if (!code) {
      std::string msg = code.error().str();
      (void)!::write(ready[1], msg.data(), msg.size());
      ::_exit(255);
    }
    if (sig > 0) {
      ::signal(sig, SIG_DFL);
      sigset_t all;
      sigfillset(&all);
      sigprocmask(SIG_UNBLOCK, &all, nullptr);
      ::kill(::getpid(), sig);
    }
    ::_exit(*code & 0xff);
  }
  ::close(ready[1]);
  tty_slave.reset();
  Fd r(ready[0]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::read(r.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  if (got != "1") {
    ::waitpid(relay, nullptr, 0);
    return fail(where + ": " + (got.empty() ? "the exec relay died" : got));
  }
  if (!o.pid_file.empty()) VEIL_CHECK(write_file_atomic(o.pid_file, std::to_string(relay)));
  return 0;
}

}  // namespace veil::runtime::microvm
