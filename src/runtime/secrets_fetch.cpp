#include "runtime/secrets_fetch.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/log.hpp"
#include "base/packet.hpp"
#include "base/strings.hpp"
#include "base/subprocess.hpp"

namespace veil::runtime {
namespace {

using nlohmann::json;

// The agent bounds itself (kbs.timeout, at most an hour); this only guards against a stuck one.
constexpr int64_t kAgentLimitMs = 3700 * 1000;

// Kills and reaps the agent on every early return.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

int64_t now_ms() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

[[gnu::cold]] Result<Fd> request_memfd(const std::string& bundle, const std::string& config_text) {
  std::string text = json{{"bundle", bundle}, {"config", config_text}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  Fd fd(::memfd_create("veil-attest-request", MFD_CLOEXEC));
  if (!fd) return fail_errno("memfd_create");
  size_t off = 0;
  while (off < text.size()) {
    ssize_t w = ::write(fd.get(), text.data() + off, text.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fail_errno("write attestation request");
    off += static_cast<size_t>(w);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return fail_errno("lseek");
  return fd;
}

[[gnu::cold]] bool sealed(int fd) {
  int seals = ::fcntl(fd, F_GET_SEALS);
  int need = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  return seals >= 0 && (seals & need) == need;
}

[[gnu::cold]] std::string describe_exit(int status) {
  if (WIFEXITED(status)) return strprintf("exited with status %d", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return strprintf("was killed by signal %d", WTERMSIG(status));
  return "stopped";
}

[[gnu::cold]] Result<std::vector<secrets_mount::SecretFile>> run_agent(
    const std::string& agent, const std::string& bundle, const std::string& config_text) {
  Fd request = VEIL_TRY(request_memfd(bundle, config_text));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return fail_errno("socketpair");
  Fd mine(sv[0]), theirs(sv[1]);

  Child child;
  child.pid = ::fork();
  if (child.pid < 0) return fail_errno("fork the attestation agent");
  if (child.pid == 0) {
    // stdin = the request, stdout -> stderr (the caller's stdout is not the agent's to write),
    // fd 3 = the answer socket; every other fd is closed at exec.
    if (::dup2(request.get(), 0) < 0 || ::dup2(2, 1) < 0 || ::dup2(theirs.get(), 3) < 0) _exit(126);
    ::syscall(SYS_close_range, 4U, ~0U, CLOSE_RANGE_CLOEXEC);
    const char* argv[] = {"veil-attest", "fetch", nullptr};
    ::execv(agent.c_str(), const_cast<char* const*>(argv));
    _exit(127);
  }
  theirs.reset();
  request.reset();

  std::vector<secrets_mount::SecretFile> files;
  bool done = false;
  std::string error;
  const int64_t deadline = now_ms() + kAgentLimitMs;
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return fail("the attestation agent did not answer");
    auto pk = recv_packet(mine.get(), static_cast<int>(left));
    if (!pk) return std::unexpected(pk.error().wrap("attestation agent"));
    if (!*pk) break;  // the agent closed its end (exited)
    if (done || !error.empty()) continue;
    json m = json::parse((*pk)->text, nullptr, false);
    if (!m.is_object()) return fail("attestation agent: malformed answer");
    if (m.contains("error") && m["error"].is_string()) {
      error = m["error"];
    } else if (m.contains("secret") && m["secret"].is_string() && m.contains("size") &&
               m["size"].is_number_unsigned()) {
      std::string tag = m["secret"];
      if (!secrets_mount::valid_name(tag))
        return fail("attestation agent: bad secret name \"" + tag + "\"");
      if (!(*pk)->fd || !sealed((*pk)->fd.get()))
        return fail("attestation agent: secret " + tag + " did not come as a sealed memfd");
      files.push_back({tag, std::move((*pk)->fd), m["size"].get<size_t>()});
    } else if (m.value("done", false)) {
      done = true;
      log::debug("attested as " + m.value("tee", "?") + ", measurement " +
                 m.value("measurement", "?") + "; " + std::to_string(files.size()) +
                 " secret(s) released");
    } else {
      return fail("attestation agent: malformed answer");
    }
  }
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  child.pid = -1;
  if (!error.empty()) return fail(error);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !done)
    return fail("cannot run the attestation agent " + agent);
  if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail("attestation agent " + agent + " " + describe_exit(status) + " without an answer");
  return files;
}

}  // namespace

[[gnu::cold]] std::string agent_path() {
  std::string dir = self_dir();
  return dir.empty() ? "veil-attest" : dir + "/veil-attest";
}

[[gnu::cold]] Result<std::vector<secrets_mount::SecretFile>> fetch_secrets(
    const std::string& bundle, const std::string& config_text, const std::string& rootfs) {
  std::string agent = agent_path();
  if (::access(agent.c_str(), X_OK) != 0)
    return fail("the attestation agent " + agent +
                    " is missing or not executable (install veil-attest next to veil)",
                errno);
  auto files = VEIL_TRY(run_agent(agent, bundle, config_text));
  Fd root(::open(rootfs.c_str(), O_DIRECTORY | O_PATH | O_CLOEXEC));
  if (!root) return fail_errno("open rootfs " + rootfs);
  VEIL_CHECK(secrets_mount::ensure_mountpoint(root.get()));
  return files;
}

}  // namespace veil::runtime
