#include "guard_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/file.hpp"

namespace veil::test {
namespace {

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

GuardEnv& GuardEnv::get() {
  static GuardEnv env = [] {
    GuardEnv e;
    if (::geteuid() != 0) return e;
    char tmpl[] = "/tmp/veil-gtest-XXXXXX";
    e.tmp = ::mkdtemp(tmpl);
    ::chmod(e.tmp.c_str(), 0755);
    e.run_dir = e.tmp + "/run";
    e.policy_dir = e.tmp + "/policies";
    e.bpffs = "/sys/fs/bpf/veil-test-" + std::to_string(::getpid());
    e.rootfs = e.tmp + "/rootfs";
    e.out_dir = e.tmp + "/out";
    (void)mkdir_all(e.policy_dir);
    (void)mkdir_all(e.out_dir, 0777);
    ::setenv("VEIL_GUARD_DIR", e.run_dir.c_str(), 1);
    ::setenv("VEIL_GUARD_BPFFS", e.bpffs.c_str(), 1);
    ::setenv("VEIL_GUARD_POLICY_DIR", e.policy_dir.c_str(), 1);
    ::setenv("VEIL_GUARD_BIN", VEIL_GUARD_BINARY, 1);
    Cmd check = run({VEIL_GUARD_BINARY, "check", "--json"});
    auto j = nlohmann::json::parse(check.out, nullptr, false);
    if (!j.is_object() || !j.value("tp_btf", false) || j.value("cgroup2", "").empty()) {
      e.skip_reason =
          "this host cannot run the guard's BPF programs (veil-guard check: " + check.out +
          check.err + ")";
      return e;
    }
    // The rootfs is copied before any container exists: its files predate every container.
    Cmd cp = run({"cp", "-a", veil::test::rootfs(), e.rootfs});
    Cmd cp2 = run({"cp", VEIL_ATTACK_BINARY, e.rootfs + "/bin/attack"});
    // A dynamically linked copy with the loader and libc it names, as a distribution image has.
    Cmd cp3 = run({"sh", "-c",
                   "set -e; r=" + e.rootfs +
                       "; cp " VEIL_ATTACK_DYNAMIC_BINARY
                       " $r/bin/attack-dyn; mkdir -p $r/lib64 $r/lib/x86_64-linux-gnu; "
                       "cp -L /lib64/ld-linux-x86-64.so.2 $r/lib64/; "
                       "cp -L /lib/x86_64-linux-gnu/libc.so.6 $r/lib/x86_64-linux-gnu/"});
    if (cp.code != 0 || cp2.code != 0 || cp3.code != 0)
      e.skip_reason = "cannot build the guard rootfs: " + cp.err + cp2.err + cp3.err;
    sleep_ms(20);
    e.start_daemon();
    return e;
  }();
  return env;
}

void GuardEnv::start_daemon() {
  std::string log = tmp + "/daemon.log";
  daemon = ::fork();
  if (daemon == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(VEIL_GUARD_BINARY, "veil-guard", "daemon", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    if (path_exists(run_dir + "/events.sock") &&
        guard({"status", "--json"}).out.find("\"events\"") != std::string::npos)
      return;
    sleep_ms(10);
  }
  skip_reason = "the guard daemon did not start: " + read_file(log).value_or("");
}

void GuardEnv::stop_daemon() {
  if (daemon <= 0) return;
  ::kill(daemon, SIGTERM);
  ::waitpid(daemon, nullptr, 0);
  daemon = -1;
}

Cmd GuardEnv::guard(std::vector<std::string> args) const {
  args.insert(args.begin(), VEIL_GUARD_BINARY);
  return run(args);
}

std::vector<nlohmann::json> GuardEnv::records() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(run_dir + "/audit.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

std::vector<nlohmann::json> GuardEnv::events(const std::string& id, size_t n,
                                             int timeout_ms) const {
  std::vector<nlohmann::json> out;
  for (int waited = 0;; waited += 20) {
    out.clear();
    for (auto& r : records())
      if (r.value("type", "") == "event" && r.value("container", "") == id) out.push_back(r);
    if (out.size() >= n || waited >= timeout_ms) return out;
    sleep_ms(20);
  }
}

std::string GuardEnv::write_policy(const std::string& name, const std::string& yaml) const {
  std::string path = policy_dir + "/" + name + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

GuardBundle::GuardBundle(std::vector<std::string> args, const std::string& policy)
    : Bundle(std::move(args)) {
  const auto& env = GuardEnv::get();
  config["root"]["path"] = env.rootfs;
  auto& ns = config["linux"]["namespaces"];
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& n : ns)
    if (n.value("type", "") != "network") kept.push_back(n);
  ns = kept;
  config["mounts"].push_back({{"destination", "/out"},
                              {"type", "bind"},
                              {"source", env.out_dir},
                              {"options", {"rbind", "rw"}}});
  if (!policy.empty()) config["annotations"]["org.veil.guard.policy"] = policy;
  write();
}

Listener::Listener(std::string command) : command_(std::move(command)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  ::listen(fd_, 4);
  thread_ = std::thread([this] {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 4000) <= 0) return;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    connected_ = true;
    (void)!::send(c, command_.data(), command_.size(), MSG_NOSIGNAL);
    // Read what a shell would answer, until it closes or goes quiet.
    for (;;) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 1500) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      received_.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
  });
}

Listener::~Listener() {
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

bool Listener::finish() {
  if (thread_.joinable()) thread_.join();
  return connected_;
}

}  // namespace veil::test
