// The guard's lifecycle: policies checked at create, registration removed at delete, kernel
// enforcement without the daemon, exec'd processes, write rules, the Landlock fallback, and the
// audit stream's sinks.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fstream>

#include "base/file.hpp"
#include "guard_fixture.hpp"

namespace veil::test {
namespace {

class GuardLifecycle : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_GUARD(); }
  Veil veil;
};

bool registered(const std::string& id) {
  auto s = nlohmann::json::parse(GuardEnv::get().guard({"status", "--json"}).out, nullptr, false);
  if (!s.is_object()) return false;
  for (const auto& c : s["containers"])
    if (c.value("id", "") == id) return true;
  return false;
}

TEST_F(GuardLifecycle, MalformedPolicyIsRejectedAtCreateNamingTheLine) {
  std::string policy = GuardEnv::get().write_policy(
      "broken", "rules:\n  egress:\n    allow:\n      - 300.1.1.1/8\n");
  std::string id = unique_id("badpol");
  GuardBundle b({"true"}, policy);
  Cmd c = veil({"create", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find(policy + ":4:9: rules.egress.allow[0]: invalid CIDR \"300.1.1.1/8\""),
            std::string::npos)
      << c.err;
  EXPECT_TRUE(nothing_left(veil, id, b));
  EXPECT_FALSE(registered(id));

  GuardBundle b2({"true"}, "no-such-policy");
  Cmd c2 = veil({"create", "--bundle", b2.dir(), id});
  EXPECT_EQ(c2.code, 1);
  EXPECT_NE(c2.err.find("no-such-policy.yaml"), std::string::npos) << c2.err;
  EXPECT_TRUE(nothing_left(veil, id, b2));
}

TEST_F(GuardLifecycle, DeleteRemovesEverythingTheContainerRegistered) {
  std::string id = unique_id("reg");
  GuardBundle b({"sleep", "30"}, "default");
  ASSERT_EQ(veil({"create", "--bundle", b.dir(), id}).code, 0);
  EXPECT_TRUE(registered(id));
  auto st = veil.state(id);
  ASSERT_EQ(veil({"delete", "--force", id}).code, 0);
  EXPECT_FALSE(registered(id));
  // The kernel side: no policy left for any cgroup in the pinned map.
  Cmd dump = run({"bpftool", "map", "dump", "pinned", GuardEnv::get().bpffs + "/policies"});
  if (dump.code == 0) {
    EXPECT_EQ(dump.out.find("\"key\""), std::string::npos) << dump.out;
  }
  EXPECT_TRUE(nothing_left(veil, id, b));
}

TEST_F(GuardLifecycle, KernelKeepsEnforcingWhileTheDaemonIsDownAndEventsWait) {
  auto& env = GuardEnv::get();
  env.stop_daemon();
  std::string id = unique_id("nodaemon");
  GuardBundle b(
      {"sh", "-c", "cp /bin/busybox /tmp/busybox; /tmp/busybox echo DRIFT-RAN; echo rc=$?"},
      "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  env.start_daemon();
  ASSERT_TRUE(env.skip_reason.empty()) << env.skip_reason;
  EXPECT_EQ(c.out.find("DRIFT-RAN"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("rc=137"), std::string::npos) << c.out << c.err;  // killed, not refused
  // The event waited in the ring buffer for the daemon.
  auto evs = env.events(id);
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs[0].value("rule", ""), "drift");
  EXPECT_EQ(evs[0].value("action", ""), "killed");
  EXPECT_EQ(evs[0].value("exe", ""), "/tmp/busybox");
}

TEST_F(GuardLifecycle, ExecdProcessesAreGuardedToo) {
  std::string id = unique_id("exec");
  GuardBundle b({"sleep", "30"}, "default");
  ASSERT_EQ(veil({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  Cmd c = veil({"exec", id, "sh", "-c",
                "cp /bin/busybox /tmp/busybox; /tmp/busybox echo DRIFT-RAN; /bin/attack mprotect"});
  EXPECT_EQ(c.out.find("DRIFT-RAN"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("mprotect: Permission denied"), std::string::npos) << c.out << c.err;
  auto evs = GuardEnv::get().events(id, 2);
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs[0].value("rule", ""), "drift");
  EXPECT_EQ(evs[1].value("rule", ""), "wx_memory");
  EXPECT_EQ(veil({"delete", "--force", id}).code, 0);
}

TEST_F(GuardLifecycle, WriteDenyGlobs) {
  std::string policy =
      GuardEnv::get().write_policy("nowrite-etc", "write:\n  deny: [\"/etc/**\"]\n");
  std::string id = unique_id("wdeny");
  GuardBundle b(
      {"sh", "-c",
       "echo x > /etc/evil && echo ETC-WRITTEN; echo y > /etc/passwd && echo PASSWD-WRITTEN; "
       "echo z > /tmp/fine && echo TMP-WRITTEN; mkdir /etc/d && echo MKDIR"},
      policy);
  b.config["root"]["readonly"] = false;
  b.write();
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.out.find("ETC-WRITTEN"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("PASSWD-WRITTEN"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("MKDIR"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("TMP-WRITTEN"), std::string::npos) << c.out << c.err;
  EXPECT_FALSE(path_exists(GuardEnv::get().rootfs + "/etc/evil"));
}

TEST_F(GuardLifecycle, LandlockFallbackWithoutBpf) {
  // As on a host that refuses BPF: drift and fileless fall back to "no exec beneath writable
  // tmpfs", egress to TCP ports; reverse_shell has no fallback and must be switched off.
  std::string policy = GuardEnv::get().write_policy("landlock", "rules:\n  reverse_shell: off\n");
  std::string id = unique_id("landlock");
  GuardBundle b({"sh", "-c",
                 "cp /bin/busybox /tmp/busybox; /tmp/busybox echo TMPFS-RAN; echo rc=$?; "
                 "/bin/busybox echo IMAGE-RAN"},
                policy);
  ::setenv("VEIL_GUARD_NO_BPF", "1", 1);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  GuardBundle b2({"true"}, "default");
  Cmd refused = veil({"create", "--bundle", b2.dir(), id + "-rs"});
  ::unsetenv("VEIL_GUARD_NO_BPF");
  EXPECT_EQ(c.out.find("TMPFS-RAN"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("rc=126"), std::string::npos) << c.out;  // EACCES from Landlock
  EXPECT_NE(c.out.find("IMAGE-RAN"), std::string::npos) << c.out;
  EXPECT_NE(c.err.find("fall back to Landlock"), std::string::npos) << c.err;
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("rules.reverse_shell needs BPF"), std::string::npos) << refused.err;
  EXPECT_TRUE(nothing_left(veil, id + "-rs", b2));
}

TEST_F(GuardLifecycle, CollectorsGetTheStreamOnTheEventsSocket) {
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string path = GuardEnv::get().run_dir + "/events.sock";
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  std::string id = unique_id("stream");
  GuardBundle b({"/bin/attack", "ptrace"}, "default");
  veil({"run", "--bundle", b.dir(), id});
  std::string got;
  timeval tv{3, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while (got.find(id) == std::string::npos) {
    char buf[4096];
    ssize_t n = ::recv(s, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(s);
  EXPECT_NE(got.find("\"container\":\"" + id + "\""), std::string::npos) << got;
  EXPECT_NE(got.find("\"syscall\":\"ptrace\""), std::string::npos) << got;
}

TEST_F(GuardLifecycle, LostEventsAreCountedAndReported) {
  // With the daemon down, more audit events than the ring buffer holds (4 MiB / ~1.2 KiB):
  // the kernel counts what it dropped and the daemon reports it when it comes back.
  auto& env = GuardEnv::get();
  std::string policy = env.write_policy("audit-drift", "mode: audit\n");
  env.stop_daemon();
  std::string id = unique_id("loss");
  GuardBundle b({"sh", "-c",
                 "cp /bin/busybox /tmp/busybox; "
                 "i=0; while [ $i -lt 4200 ]; do /tmp/busybox true; i=$((i+1)); done; "
                 "echo DONE"},
                policy);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.out.find("DONE"), std::string::npos) << c.err;
  env.start_daemon();
  ASSERT_TRUE(env.skip_reason.empty()) << env.skip_reason;
  bool reported = false;
  for (int i = 0; i < 100 && !reported; ++i) {
    for (const auto& r : env.records())
      if (r.value("type", "") == "loss" && r.value("source", "") == "ringbuf" &&
          r.value("count", 0) > 0)
        reported = true;
    if (!reported) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(reported) << "no ringbuf loss record after overflowing the ring buffer";
  auto evs = env.events(id, 3000, 3000);
  EXPECT_GT(evs.size(), 3000u);
  EXPECT_LT(evs.size(), 4200u);
}

TEST_F(GuardLifecycle, CheckTellsHowEachProtectionIsEnforced) {
  Cmd c = run({VEIL_BINARY, "check"});
  EXPECT_EQ(c.code, 0) << c.err;
  for (const char* p : {"reverse_shell", "fileless_exec", "drift", "egress", "wx_memory",
                        "sensitive_syscalls", "write deny"})
    EXPECT_NE(c.out.find(p), std::string::npos) << p << "\n" << c.out;
  EXPECT_NE(c.out.find("kills at exec"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("blocks before"), std::string::npos) << c.out;
}

}  // namespace
}  // namespace veil::test

namespace veil::test {
namespace {

TEST_F(GuardLifecycle, EventsFollowStreamsOneContainersEvents) {
  std::string mine = unique_id("follow"), other = unique_id("follow-other");
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid_t f = ::fork();
  if (f == 0) {
    ::dup2(out[1], 1);
    ::execl(VEIL_BINARY, "veil", "events", "--follow", mine.c_str(), nullptr);
    _exit(127);
  }
  ::close(out[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  GuardBundle a({"/bin/attack", "ptrace"}, "default");
  GuardBundle b({"/bin/attack", "ptrace"}, "default");
  veil({"run", "--bundle", b.dir(), other});
  veil({"run", "--bundle", a.dir(), mine});
  std::string got;
  for (int i = 0; i < 60 && got.find(mine) == std::string::npos; ++i) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    }
  }
  ::kill(f, SIGTERM);
  ::waitpid(f, nullptr, 0);
  ::close(out[0]);
  EXPECT_NE(got.find("\"container\":\"" + mine + "\""), std::string::npos) << got;
  EXPECT_EQ(got.find(other), std::string::npos) << got;

  // Without a daemon: a clear error.
  auto& env = GuardEnv::get();
  env.stop_daemon();
  Cmd c = run({VEIL_BINARY, "events", "--follow"});
  env.start_daemon();
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("the guard daemon is not running"), std::string::npos) << c.err;
}

}  // namespace
}  // namespace veil::test
