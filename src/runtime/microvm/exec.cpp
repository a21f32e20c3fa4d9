// `veil exec` into a microVM container: the process object is built here (from --process or the
// container's own process with the given args) and run by the guest's veil (exec_relay.hpp).
#include "runtime/microvm/exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "runtime/microvm/exec_relay.hpp"
#include "runtime/microvm/handler.hpp"

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
  if (o.tty) return unsupported("--tty");
  if (!o.console_socket.empty()) return unsupported("--console-socket");
  if (o.preserve_fds > 0) return unsupported("--preserve-fds");
  if (!o.caps.empty()) return unsupported("--cap");
  if (!o.cgroups.empty()) return unsupported("--cgroup");
  if (!o.additional_gids.empty()) return unsupported("--additional-gids");
  auto proc = VEIL_TRY(build_process(st, o));
  if (proc.value("terminal", false)) return unsupported("process.terminal");
  std::string where = "exec in container \"" + st.id + "\"";
  if (!o.detach) {
    // --pid-file: the exec'd process lives in the guest; its pid there is what there is.
    auto started = [&](int guest_pid) {
      if (!o.pid_file.empty()) (void)write_file_atomic(o.pid_file, std::to_string(guest_pid));
    };
    auto code = exec_in_vm(vm_dir(g, st.id), proc, started, nullptr);
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
