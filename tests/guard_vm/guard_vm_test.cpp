// The guard's BPF programs on another kernel (label vm): boots Debian 12's cloud kernel (6.1, whose
// default LSM list has bpf) in QEMU with TCG — this host refuses BPF LSM programs, and its KVM
// cannot run a stock kernel (docs/testing.md) — with tests/guard_vm/guest.cpp as /init, once for
// every test here, and asserts what the guest program reports on the serial console:
//   - the production loader picks the BPF LSM set there and attaches it; the fallback set
//     (VEIL_GUARD_NO_LSM) loads and attaches on the same kernel: both verify, and their CO-RE
//     relocations resolve against 6.1's BTF;
//   - per program set, every attack in a guarded cgroup (and in a cgroup below it) is refused
//     before it happens (LSM) or killed at exec (fallback), with one ring-buffer event naming the
//     rule, action and mechanism; in an audit-mode container the same attacks succeed and are
//     reported; outside any container and after unregistration they succeed and nothing is
//     reported; benign actions succeed everywhere.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/file.hpp"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Proc {
  int code = -1;
  bool timed_out = false;
  std::string out, err;
  double seconds = 0;
  double marker_seconds = -1;  // when `marker` first appeared on stdout
};

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs argv (no shell) with extra environment and stdin from /dev/null; kills it (and only it)
// after timeout_s, or after marker_timeout_s when `marker` has not appeared on stdout by then.
Proc run(const std::vector<std::string>& argv, double timeout_s,
         const std::vector<std::string>& env = {}, const std::string& marker = "",
         double marker_timeout_s = 0) {
  Proc p;
  int o[2], e[2];
  if (::pipe2(o, O_CLOEXEC) != 0 || ::pipe2(e, O_CLOEXEC) != 0) {
    p.err = "pipe: " + std::string(std::strerror(errno));
    return p;
  }
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int nul = ::open("/dev/null", O_RDONLY);
    ::dup2(nul, 0);
    ::dup2(o[1], 1);
    ::dup2(e[1], 2);
    for (const auto& kv : env) ::putenv(::strdup(kv.c_str()));
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    dprintf(2, "exec %s: %s\n", a[0], std::strerror(errno));
    _exit(127);
  }
  ::close(o[1]);
  ::close(e[1]);
  pollfd fds[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
  std::string* dst[2] = {&p.out, &p.err};
  int open_fds = 2;
  while (open_fds > 0) {
    double left = timeout_s - since(t0);
    if (!marker.empty() && p.marker_seconds < 0 && marker_timeout_s > 0)
      left = std::min(left, marker_timeout_s - since(t0));
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      p.timed_out = true;
      break;
    }
    int r = ::poll(fds, 2, static_cast<int>(left * 1000) + 1);
    if (r < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      } else {
        dst[i]->append(buf, static_cast<size_t>(n));
        if (i == 0 && p.marker_seconds < 0 && !marker.empty() &&
            p.out.find(marker) != std::string::npos)
          p.marker_seconds = since(t0);
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int st = 0;
  ::waitpid(pid, &st, 0);
  p.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  p.seconds = since(t0);
  return p;
}

std::string tail(const std::string& s, size_t n = 6000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// The guest's TSC runs at the host's rate under TCG; the microvm machine hangs at boot in most
// runs without it given (HOST.md).
std::string tsc_khz() {
  auto info = veil::read_file("/proc/cpuinfo");
  if (info) {
    auto at = info->find("cpu MHz");
    if (at != std::string::npos) {
      auto colon = info->find(':', at);
      double mhz = std::strtod(info->c_str() + colon + 1, nullptr);
      if (mhz > 100) return std::to_string(static_cast<long>(mhz * 1000));
    }
  }
  return "2445000";
}

const char* const kPolicyEnforce = R"(name: vm-enforce
mode: enforce
rules:
  egress:
    allow:
      - cidr: 127.0.0.1/32
        ports: [8080]
)";
const char* const kPolicyAudit = R"(name: vm-audit
mode: audit
rules:
  egress:
    allow:
      - cidr: 127.0.0.1/32
        ports: [8080]
)";

struct Vm {
  std::string skip;     // qemu cannot run here
  std::string failure;  // the guest could not be built or started
  std::string package;  // the kernel package booted
  Proc qemu;
  std::vector<json> records;
  std::vector<std::string> unparsed;
  double prepare_seconds = 0;
  int boot_retries = 0;
};

Vm start() {
  Vm vm;
  auto probe = run({"qemu-system-x86_64", "-machine", "help"}, 60);
  if (probe.code != 0 || probe.out.find("microvm") == std::string::npos) {
    vm.skip = "qemu-system-x86_64 cannot run here (exit " + std::to_string(probe.code) +
              "): " + tail(probe.err + probe.out, 300);
    return vm;
  }
  auto t0 = Clock::now();
  std::string cache = VEIL_VM_CACHE;
  if (auto r = veil::mkdir_all(cache, 0755); !r) {
    vm.failure = r.error().str();
    return vm;
  }
  std::string tmpl = cache + "/run.XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    vm.failure = "mkdtemp " + tmpl + ": " + std::strerror(errno);
    return vm;
  }
  const std::string tmp = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)veil::remove_all(dir); }
  } cleanup{tmp};

  // The policies go through the production compiler: YAML -> `veil-guard prepare` -> the JSON
  // spec `veil create` registers. A private instance: the host's guard is not involved.
  const std::vector<std::string> guard_env = {"VEIL_GUARD_DIR=" + tmp + "/guard",
                                              "VEIL_GUARD_BPFFS=" + tmp + "/bpffs"};
  for (const auto& [name, text] :
       {std::pair{"enforce", kPolicyEnforce}, std::pair{"audit", kPolicyAudit}}) {
    std::string yaml = tmp + "/" + name + ".yaml";
    (void)veil::write_file_atomic(yaml, text);
    auto p = run({VEIL_GUARD_BINARY, "prepare", "--no-load", "--policy", yaml}, 60, guard_env);
    if (p.code != 0) {
      vm.failure = "veil-guard prepare " + yaml + ": " + p.err;
      return vm;
    }
    (void)veil::write_file_atomic(tmp + "/" + name + ".json", p.out);
  }
  // The kernel download is cached in the build directory; the initramfs is built each time.
  auto g = run(
      {VEIL_VM_SCRIPT, cache, tmp, VEIL_VM_GUEST, tmp + "/enforce.json", tmp + "/audit.json"}, 240);
  if (g.code != 0) {
    vm.failure = "make-guest.sh: " + tail(g.err + g.out, 2000);
    return vm;
  }
  std::map<std::string, std::string> kv;
  for (size_t i = 0; i < g.out.size();) {
    size_t nl = g.out.find('\n', i);
    if (nl == std::string::npos) nl = g.out.size();
    std::string line = g.out.substr(i, nl - i);
    if (auto eq = line.find('='); eq != std::string::npos)
      kv[line.substr(0, eq)] = line.substr(eq + 1);
    i = nl + 1;
  }
  vm.package = kv["package"];
  vm.prepare_seconds = since(t0);

  // HOST.md's microvm recipe (ACPI on: it describes the machine's devices). A boot that has not
  // reached the agent in 60 s (it takes 2 s) is hung: it is retried once.
  std::vector<std::string> qemu;
  for (const char* a : {"qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-m", "128", "-smp",
                        "1", "-nodefaults", "-no-user-config", "-display", "none", "-serial",
                        "stdio", "-no-reboot", "-kernel"})
    qemu.push_back(a);
  qemu.insert(qemu.end(), {kv["kernel"], "-initrd", kv["initrd"], "-append",
                           "console=ttyS0 quiet panic=-1 tsc_early_khz=" + tsc_khz()});
  for (int attempt = 0; attempt < 2; ++attempt) {
    vm.qemu = run(qemu, 240, {}, "\"kind\":\"boot\"", 60);
    if (vm.qemu.marker_seconds >= 0) break;
    vm.boot_retries++;
  }
  for (size_t i = 0; i < vm.qemu.out.size();) {
    size_t nl = vm.qemu.out.find('\n', i);
    if (nl == std::string::npos) nl = vm.qemu.out.size();
    std::string line = vm.qemu.out.substr(i, nl - i);
    i = nl + 1;
    auto at = line.find("VGVM {");
    if (at == std::string::npos) continue;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    auto j = json::parse(line.substr(at + 5), nullptr, false);
    if (j.is_object())
      vm.records.push_back(j);
    else
      vm.unparsed.push_back(line);
  }
  return vm;
}

const Vm& vm() {
  static const Vm v = start();
  return v;
}

std::string console() {
  return "guest console (tail):\n" + tail(vm().qemu.out) + "\nqemu stderr:\n" +
         tail(vm().qemu.err, 2000);
}

std::vector<json> records(const std::string& kind, const std::string& phase = "") {
  std::vector<json> v;
  for (const auto& r : vm().records)
    if (r.value("kind", "") == kind && (phase.empty() || r.value("phase", "") == phase))
      v.push_back(r);
  return v;
}

const json* check(const std::string& phase, const std::string& name, const std::string& where) {
  for (const auto& r : vm().records)
    if (r.value("kind", "") == "check" && r.value("phase", "") == phase &&
        r.value("check", "") == name && r.value("where", "") == where)
      return &r;
  return nullptr;
}

std::vector<json> events_of(const std::string& phase, int pid) {
  std::vector<json> v;
  for (const auto& r : records("event", phase))
    if (r["event"].value("pid", 0) == pid) v.push_back(r["event"]);
  return v;
}

// What each check does under each program set. An empty rule: no event, and the action succeeds
// everywhere (inside a guarded container too).
struct Expect {
  const char* check;
  const char* ok;        // the result where nothing is enforced
  const char* enforced;  // the result inside a guarded container
  const char* rule;
  const char* mechanism;
  const char* detail;  // nullptr: not compared
  const char* remote;  // network events
  const char* protocol;
};

const char* const kBprm = "bpf:lsm/bprm_check_security";
const char* const kTpExec = "bpf:tp_btf/sched_process_exec";
const char* const kConnect4 = "bpf:cgroup/connect4";
const char* const kConnect6 = "bpf:cgroup/connect6";
const char* const kSendmsg4 = "bpf:cgroup/sendmsg4";
const char* const kDrift = "changed after the container was created";
const char* const kStdioSocket = "stdin/stdout/stderr is a network socket";
const char* const kNetcat = "netcat started with a program to run";
const char* const kSocat = "socat EXEC:/SYSTEM: address";

// Egress is the same in both sets: the cgroup socket programs.
const std::vector<Expect> kNet = {
    {"tcp_allowed", "ok", "ok", "", "", nullptr, nullptr, nullptr},
    {"tcp_other_port", "ok", "errno:EPERM", "egress", kConnect4, nullptr, "127.0.0.1:9090", "tcp"},
    {"tcp_other_addr", "ok", "errno:EPERM", "egress", kConnect4, nullptr, "127.0.0.2:8080", "tcp"},
    {"tcp6_loopback", "ok", "errno:EPERM", "egress", kConnect6, nullptr, "[::1]:8080", "tcp"},
    {"tcp_mapped_allowed", "ok", "ok", "", "", nullptr, nullptr, nullptr},
    {"tcp_mapped_other", "ok", "errno:EPERM", "egress", kConnect6, nullptr, "127.0.0.1:9090",
     "tcp"},
    {"tcp_fastopen_allowed", "ok", "ok", "", "", nullptr, nullptr, nullptr},
    {"tcp_fastopen_other", "ok", "errno:EPERM", "egress", kConnect4, nullptr, "127.0.0.1:9090",
     "tcp"},
    {"udp_connect_other", "ok", "errno:EPERM", "egress", kConnect4, nullptr, "127.0.0.1:9090",
     "udp"},
    {"udp_sendto_allowed", "ok", "ok", "", "", nullptr, nullptr, nullptr},
    {"udp_sendto_other", "ok", "errno:EPERM", "egress", kSendmsg4, nullptr, "127.0.0.1:9090",
     "udp"},
};

std::vector<Expect> with_net(std::vector<Expect> exec, const std::vector<Expect>& memory) {
  exec.insert(exec.end(), kNet.begin(), kNet.end());
  exec.insert(exec.end(), memory.begin(), memory.end());
  return exec;
}

const std::vector<Expect> kLsm = with_net(
    {
        {"exec_image", "ran:42", "ran:42", "", "", nullptr, nullptr, nullptr},
        {"exec_dropped", "ran:42", "errno:EPERM", "drift", kBprm, kDrift, nullptr, nullptr},
        {"exec_memfd", "ran:42", "errno:EPERM", "fileless_exec", kBprm, "memfd", nullptr, nullptr},
        {"reverse_shell", "ran:42", "errno:EPERM", "reverse_shell", kBprm, kStdioSocket, nullptr,
         nullptr},
        // The LSM hook cannot read the new argv: the tracepoint kills these (a shell known by
        // argv[0] only, netcat and socat arguments).
        {"reverse_shell_argv0", "ran:42", "killed:9", "reverse_shell", kTpExec, kStdioSocket,
         nullptr, nullptr},
        {"netcat_exec", "ran:0", "killed:9", "reverse_shell", kTpExec, kNetcat, nullptr, nullptr},
        {"socat_exec", "ran:127", "killed:9", "reverse_shell", kTpExec, kSocat, nullptr, nullptr},
    },
    {
        {"mprotect_anon_rx", "ok", "errno:EACCES", "wx_memory", "bpf:lsm/file_mprotect", nullptr,
         nullptr, nullptr},
        {"mmap_anon_rwx", "ok", "errno:EACCES", "wx_memory", "bpf:lsm/mmap_file", nullptr, nullptr,
         nullptr},
        {"mprotect_file_rx", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mmap_file_wx", "ok", "errno:EACCES", "wx_memory", "bpf:lsm/mmap_file", nullptr, nullptr,
         nullptr},
        // A dropped program or library mapped by a loader instead of exec'ed.
        {"mmap_dropped_x", "ok", "errno:EACCES", "drift", "bpf:lsm/mmap_file", kDrift, nullptr,
         nullptr},
        {"mprotect_dropped_x", "ok", "errno:EACCES", "drift", "bpf:lsm/file_mprotect", kDrift,
         nullptr, nullptr},
        {"mmap_memfd_x", "ok", "errno:EACCES", "fileless_exec", "bpf:lsm/mmap_file", "memfd",
         nullptr, nullptr},
        {"mmap_image_x", "ok", "ok", "", "", nullptr, nullptr, nullptr},
    });

// Without BPF LSM: exec is killed before the program's first instruction, and W^X is left to
// seccomp in the container (none here).
const std::vector<Expect> kFallback = with_net(
    {
        {"exec_image", "ran:42", "ran:42", "", "", nullptr, nullptr, nullptr},
        {"exec_dropped", "ran:42", "killed:9", "drift", kTpExec, kDrift, nullptr, nullptr},
        {"exec_memfd", "ran:42", "killed:9", "fileless_exec", kTpExec, "memfd", nullptr, nullptr},
        {"reverse_shell", "ran:42", "killed:9", "reverse_shell", kTpExec, kStdioSocket, nullptr,
         nullptr},
        {"reverse_shell_argv0", "ran:42", "killed:9", "reverse_shell", kTpExec, kStdioSocket,
         nullptr, nullptr},
        {"netcat_exec", "ran:0", "killed:9", "reverse_shell", kTpExec, kNetcat, nullptr, nullptr},
        {"socat_exec", "ran:127", "killed:9", "reverse_shell", kTpExec, kSocat, nullptr, nullptr},
    },
    {
        {"mprotect_anon_rx", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mmap_anon_rwx", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mprotect_file_rx", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mmap_file_wx", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mmap_dropped_x", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mprotect_dropped_x", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mmap_memfd_x", "ok", "ok", "", "", nullptr, nullptr, nullptr},
        {"mmap_image_x", "ok", "ok", "", "", nullptr, nullptr, nullptr},
    });

const std::vector<Expect>& table(const std::string& phase) {
  return phase == "lsm" ? kLsm : kFallback;
}

class GuardVm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!vm().skip.empty()) GTEST_SKIP() << vm().skip;
    ASSERT_TRUE(vm().failure.empty()) << vm().failure;
    ASSERT_FALSE(vm().qemu.timed_out) << "the guest hung at boot twice or did not finish in 240 s\n"
                                      << console();
    ASSERT_FALSE(records("done").empty()) << "the agent did not finish\n" << console();
  }

  // Enforcement inside the guarded container and in a cgroup below it.
  void expect_enforced(const std::string& phase) {
    for (const auto& x : table(phase)) {
      for (const char* where : {"guarded", "nested"}) {
        SCOPED_TRACE(phase + " " + x.check + " in " + where);
        const json* c = check(phase, x.check, where);
        if (!c) {
          ADD_FAILURE() << "no result reported\n" << console();
          continue;
        }
        EXPECT_EQ((*c)["result"].get<std::string>(), x.enforced);
        auto ev = events_of(phase, (*c)["pid"]);
        if (!*x.rule) {
          EXPECT_TRUE(ev.empty()) << json(ev).dump();
          continue;
        }
        if (ev.size() != 1) {
          ADD_FAILURE() << "expected one event, got " << json(ev).dump();
          continue;
        }
        const json& e = ev[0];
        EXPECT_EQ(e["rule"], x.rule) << e.dump();
        EXPECT_EQ(e["action"], std::string(x.enforced).starts_with("killed") ? "killed" : "blocked")
            << e.dump();
        EXPECT_EQ(e["mechanism"], x.mechanism) << e.dump();
        EXPECT_EQ(e["container"], "vm-guarded") << e.dump();
        EXPECT_EQ(e["policy"], "vm-enforce") << e.dump();
        if (x.detail) {
          EXPECT_EQ(e.value("detail", ""), x.detail) << e.dump();
        }
        if (x.remote) {
          EXPECT_EQ(e.value("remote", ""), x.remote) << e.dump();
          EXPECT_EQ(e.value("protocol", ""), x.protocol) << e.dump();
        }
        if (std::string(x.check) == "exec_dropped") {
          EXPECT_EQ(e["exe"], "/tmp/dropped-" + phase) << e.dump();
        }
        if (std::string(x.check).ends_with("dropped_x")) {  // the mapped file, not the mapper
          EXPECT_EQ(e.value("file", ""), "/tmp/dropped-" + phase) << e.dump();
        }
        if (std::string(x.check) == "reverse_shell") {
          EXPECT_EQ(e["exe"], "/bin/sh") << e.dump();
        }
      }
    }
  }

  // Audit mode: everything runs, the attacks are reported as "audited".
  void expect_audited(const std::string& phase) {
    for (const auto& x : table(phase)) {
      SCOPED_TRACE(phase + " " + x.check + " in audit mode");
      const json* c = check(phase, x.check, "audited");
      if (!c) {
        ADD_FAILURE() << "no result reported\n" << console();
        continue;
      }
      EXPECT_EQ((*c)["result"].get<std::string>(), x.ok);
      auto ev = events_of(phase, (*c)["pid"]);
      if (!*x.rule) {
        EXPECT_TRUE(ev.empty()) << json(ev).dump();
        continue;
      }
      if (ev.size() != 1) {
        ADD_FAILURE() << "expected one event, got " << json(ev).dump();
        continue;
      }
      EXPECT_EQ(ev[0]["rule"], x.rule) << ev[0].dump();
      EXPECT_EQ(ev[0]["action"], "audited") << ev[0].dump();
      EXPECT_EQ(ev[0]["mechanism"], x.mechanism) << ev[0].dump();
      EXPECT_EQ(ev[0]["container"], "vm-audited") << ev[0].dump();
      EXPECT_EQ(ev[0]["policy"], "vm-audit") << ev[0].dump();
    }
  }

  // Outside every container, and in the guarded cgroup once it is unregistered: untouched.
  void expect_untouched(const std::string& phase) {
    for (const auto& x : table(phase)) {
      for (const char* where : {"host", "unregistered"}) {
        const json* c = check(phase, x.check, where);
        if (!c && std::string(where) == "unregistered") continue;  // a subset runs there
        SCOPED_TRACE(phase + " " + x.check + " in " + where);
        if (!c) {
          ADD_FAILURE() << "no result reported\n" << console();
          continue;
        }
        EXPECT_EQ((*c)["result"].get<std::string>(), x.ok);
        auto ev = events_of(phase, (*c)["pid"]);
        EXPECT_TRUE(ev.empty()) << json(ev).dump();
      }
    }
    for (const char* name : {"exec_dropped", "tcp_other_port"})
      EXPECT_NE(check(phase, name, "unregistered"), nullptr) << name;
  }

  // The ring buffer holds exactly the events of the checks that expect one, nothing was lost.
  void expect_events_accounted(const std::string& phase) {
    std::map<int, std::string> expected;  // pid -> check
    for (const auto& r : records("check", phase)) {
      const std::string name = r["check"], where = r["where"];
      EXPECT_TRUE(std::any_of(table(phase).begin(), table(phase).end(),
                              [&](const Expect& x) { return name == x.check; }))
          << "the agent ran a check this test has no expectation for: " << name;
      for (const auto& x : table(phase))
        if (name == x.check && *x.rule && where != "host" && where != "unregistered")
          expected[r["pid"].get<int>()] = name + " in " + where;
    }
    std::map<int, int> seen;
    for (const auto& r : records("event", phase)) {
      int pid = r["event"].value("pid", 0);
      EXPECT_TRUE(expected.count(pid)) << "an event no check expects: " << r.dump();
      seen[pid]++;
    }
    for (const auto& [pid, what] : expected) EXPECT_EQ(seen[pid], 1) << what;
    auto stats = records("stats", phase);
    ASSERT_EQ(stats.size(), 1u) << console();
    EXPECT_EQ(stats[0]["dropped"], 0) << stats[0].dump();
    EXPECT_EQ(stats[0]["events"], stats[0]["events_read"]) << stats[0].dump();
    EXPECT_EQ(stats[0]["events_read"], static_cast<int>(expected.size())) << stats[0].dump();
  }
};

TEST_F(GuardVm, BootsDebianCloudKernelWithBpfLsm) {
  auto boot = records("boot");
  ASSERT_EQ(boot.size(), 1u) << console();
  EXPECT_TRUE(boot[0].value("release", "").starts_with("6.1.")) << boot[0].dump();
  EXPECT_TRUE(boot[0].value("btf", false)) << "no /sys/kernel/btf/vmlinux in the guest";
  EXPECT_NE(boot[0].value("lsm", "").find("bpf"), std::string::npos) << boot[0].dump();
  EXPECT_TRUE(vm().unparsed.empty()) << vm().unparsed.front();
  for (const auto& e : records("error")) ADD_FAILURE() << "agent: " << e["what"];
  double total_guest = records("done")[0].value("uptime", 0.0);
  std::printf(
      "vm: %s; guest pieces %.1f s, qemu %.1f s (agent's first line at %.1f s, guest uptime at "
      "the end %.1f s, hung boots retried: %d)\n",
      vm().package.c_str(), vm().prepare_seconds, vm().qemu.seconds, vm().qemu.marker_seconds,
      total_guest, vm().boot_retries);
  for (const auto& l : records("load"))
    std::printf("vm: %s set loaded in %.2f s\n", l.value("phase", "").c_str(),
                l.value("seconds", 0.0));
  for (const auto& t : records("timing"))
    std::printf("vm: %s checks in %.2f s\n", t.value("phase", "").c_str(),
                t.value("checks_seconds", 0.0));
}

TEST_F(GuardVm, LoaderPicksAndAttachesTheLsmSet) {
  auto load = records("load", "lsm");
  ASSERT_EQ(load.size(), 1u) << console();
  EXPECT_TRUE(load[0].value("ok", false)) << load[0].value("error", "");
  EXPECT_EQ(load[0]["mechs"].get<std::string>(), "lsm:exec,lsm:wx,tp_btf:exec,cgroup:net");
  EXPECT_EQ(load[0]["lsm_refusal"], "") << "BPF LSM refused on 6.1";
}

TEST_F(GuardVm, LsmSetEnforcesInsideTheContainer) {
  expect_enforced("lsm");
}
TEST_F(GuardVm, LsmSetAuditModeAllowsAndReports) {
  expect_audited("lsm");
}
TEST_F(GuardVm, LsmSetLeavesEverythingElseAlone) {
  expect_untouched("lsm");
}
TEST_F(GuardVm, LsmSetEventsAccountedFor) {
  expect_events_accounted("lsm");
}

TEST_F(GuardVm, FallbackSetLoadsAndAttaches) {
  auto load = records("load", "fallback");
  ASSERT_EQ(load.size(), 1u) << console();
  EXPECT_TRUE(load[0].value("ok", false)) << load[0].value("error", "");
  EXPECT_EQ(load[0]["mechs"].get<std::string>(), "tp_btf:exec,cgroup:net");
  EXPECT_EQ(load[0]["lsm_refusal"], "VEIL_GUARD_NO_LSM is set");
}

TEST_F(GuardVm, FallbackSetEnforcesInsideTheContainer) {
  expect_enforced("fallback");
}
TEST_F(GuardVm, FallbackSetAuditModeAllowsAndReports) {
  expect_audited("fallback");
}
TEST_F(GuardVm, FallbackSetLeavesEverythingElseAlone) {
  expect_untouched("fallback");
}
TEST_F(GuardVm, FallbackSetEventsAccountedFor) {
  expect_events_accounted("fallback");
}

}  // namespace
