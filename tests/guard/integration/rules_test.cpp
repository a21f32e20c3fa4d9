// Operator rules beyond the built-ins: exec allow/deny by path glob or SHA-256, decided by the
// daemon before the exec (fanotify); the allow list's kernel backstop while the daemon is down;
// the daemon re-arming running containers after a restart; the opt-in vm.memfd_noexec; and the
// audit log's rotation.
#include <openssl/evp.h>

#include <fstream>

#include "base/file.hpp"
#include "guard_fixture.hpp"

namespace veil::test {
namespace {

std::string sha256_file(const std::string& path) {
  auto data = read_file(path);
  unsigned char md[32];
  unsigned len = 0;
  EVP_Digest(data->data(), data->size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

class GuardRules : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_GUARD(); }
  Veil veil;
};

TEST_F(GuardRules, ExecDenyByPathAndByHash) {
  auto& env = GuardEnv::get();
  std::string attack_sha = sha256_file(env.rootfs + "/bin/attack");
  std::string policy =
      env.write_policy("deny", "exec:\n  deny: [\"/bin/wget\", \"sha256:" + attack_sha + "\"]\n");
  std::string id = unique_id("deny");
  GuardBundle b({"sh", "-c",
                 "/bin/attack ptrace; echo attack=$?; wget --help >/dev/null 2>&1; echo wget=$?; "
                 "/bin/busybox echo ALLOWED"},
                policy);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.out.find("attack=126"), std::string::npos) << c.out << c.err;  // EPERM at exec
  EXPECT_EQ(c.out.find("ptrace:"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ALLOWED"), std::string::npos) << c.out;
  auto evs = env.events(id, 1);
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs[0].value("rule", ""), "exec");
  EXPECT_EQ(evs[0].value("action", ""), "blocked");
  EXPECT_EQ(evs[0].value("exe", ""), "/bin/attack");
  EXPECT_NE(evs[0].value("detail", "").find("sha256:" + attack_sha), std::string::npos);
}

TEST_F(GuardRules, ExecAllowListWithTheKernelBackstop) {
  auto& env = GuardEnv::get();
  std::string bb = sha256_file(env.rootfs + "/bin/busybox");
  std::string policy = env.write_policy("allow", "exec:\n  allow: [\"sha256:" + bb + "\"]\n");
  std::string id = unique_id("allow");
  GuardBundle b({"sleep", "60"}, policy);
  ASSERT_EQ(veil({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  Cmd ok = veil(
      {"exec", id, "sh", "-c", "/bin/busybox echo BUSYBOX-RAN; /bin/attack ptrace; echo rc=$?"});
  EXPECT_NE(ok.out.find("BUSYBOX-RAN"), std::string::npos) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("rc=126"), std::string::npos) << ok.out;  // not on the list: refused
  // Without the daemon, fanotify is gone; the BPF side still kills what the daemon never approved.
  env.stop_daemon();
  Cmd down =
      veil({"exec", id, "sh", "-c", "/bin/busybox echo STILL-RAN; /bin/attack ptrace; echo rc=$?"});
  env.start_daemon();
  EXPECT_NE(down.out.find("STILL-RAN"), std::string::npos) << down.out << down.err;
  EXPECT_NE(down.out.find("rc=137"), std::string::npos) << down.out;
  EXPECT_EQ(down.out.find("ptrace:"), std::string::npos) << down.out;
  auto evs = env.events(id, 2);
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs[0].value("mechanism", ""), "fanotify:FAN_OPEN_EXEC_PERM");
  EXPECT_EQ(evs[1].value("mechanism", ""), "bpf:tp_btf/sched_process_exec");
  EXPECT_EQ(evs[1].value("detail", ""), "not on the exec allow list");
  Cmd before = run({"bpftool", "map", "dump", "pinned", env.bpffs + "/approved"});
  EXPECT_NE(before.out.find("\"key\""), std::string::npos) << before.out;
  veil({"delete", "--force", id});
  // The approvals were the container's: delete removes them with the rest.
  Cmd after = run({"bpftool", "map", "dump", "pinned", env.bpffs + "/approved"});
  EXPECT_EQ(after.out.find("\"key\""), std::string::npos) << after.out;
}

TEST_F(GuardRules, ExecRulesNeedTheDaemon) {
  auto& env = GuardEnv::get();
  std::string policy = env.write_policy("deny-wget", "exec:\n  deny: [\"/bin/wget\"]\n");
  env.stop_daemon();
  std::string id = unique_id("nodaemon-rules");
  GuardBundle b({"true"}, policy);
  Cmd c = veil({"create", "--bundle", b.dir(), id});
  env.start_daemon();
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("decided by the guard daemon, which is not running"), std::string::npos)
      << c.err;
  EXPECT_TRUE(nothing_left(veil, id, b));
}

TEST_F(GuardRules, RestartedDaemonGuardsRunningContainersAgain) {
  auto& env = GuardEnv::get();
  std::string id = unique_id("rearm");
  GuardBundle b({"sleep", "60"}, "default");
  ASSERT_EQ(veil({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  env.stop_daemon();
  env.start_daemon();
  ASSERT_TRUE(env.skip_reason.empty()) << env.skip_reason;
  // Refused before the exec (126), not killed at it (137): the new daemon marked the mounts.
  Cmd c = veil(
      {"exec", id, "sh", "-c", "cp /bin/busybox /tmp/busybox; /tmp/busybox echo RAN; echo rc=$?"});
  EXPECT_NE(c.out.find("rc=126"), std::string::npos) << c.out << c.err;
  auto evs = env.events(id);
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs[0].value("mechanism", ""), "fanotify:FAN_OPEN_EXEC_PERM");
  veil({"delete", "--force", id});
}

TEST_F(GuardRules, ReloadingTheProgramsKeepsRunningContainersGuarded) {
  auto& env = GuardEnv::get();
  std::string id = unique_id("reload");
  GuardBundle b({"sleep", "60"}, "default");
  ASSERT_EQ(veil({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  env.stop_daemon();  // only the kernel side now
  Cmd reload = env.guard({"load", "--replace"});
  ASSERT_EQ(reload.code, 0) << reload.err;
  Cmd c = veil(
      {"exec", id, "sh", "-c", "cp /bin/busybox /tmp/busybox; /tmp/busybox echo RAN; echo rc=$?"});
  env.start_daemon();
  // New maps, same container: the registry put its policy back, so the exec is killed.
  EXPECT_EQ(c.out.find("RAN\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("rc=137"), std::string::npos) << c.out << c.err;
  veil({"delete", "--force", id});
}

TEST_F(GuardRules, AnotherBuildsProgramsAreReplacedAtTheNextCreate) {
  auto& env = GuardEnv::get();
  std::string id = unique_id("upgrade");
  GuardBundle b({"sleep", "60"}, "default");
  ASSERT_EQ(veil({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  env.stop_daemon();
  // Pretend the pinned programs came from another veil-guard build (meta[2] is its hash).
  Cmd fake = run({"bpftool", "map", "update", "pinned", env.bpffs + "/meta", "key", "2", "0", "0",
                  "0", "value", "1", "0", "0", "0"});
  ASSERT_EQ(fake.code, 0) << fake.err;
  GuardBundle b2({"true"}, "default");
  Cmd second = veil({"run", "--bundle", b2.dir(), id + "-2"});  // its prepare reloads
  EXPECT_EQ(second.code, 0) << second.err;
  Cmd meta =
      run({"bpftool", "map", "lookup", "pinned", env.bpffs + "/meta", "key", "2", "0", "0", "0"});
  EXPECT_EQ(meta.out.find("\"value\": 1\n"), std::string::npos) << meta.out;
  // The first container was written back into the new maps: still guarded.
  Cmd c = veil(
      {"exec", id, "sh", "-c", "cp /bin/busybox /tmp/busybox; /tmp/busybox echo RAN; echo rc=$?"});
  env.start_daemon();
  EXPECT_NE(c.out.find("rc=137"), std::string::npos) << c.out << c.err;
  veil({"delete", "--force", id});
}

TEST_F(GuardRules, MemfdNoexecIsSetInTheContainersPidNamespaceOnly) {
  auto& env = GuardEnv::get();
  std::string policy =
      env.write_policy("memfd2", "rules:\n  fileless_exec:\n    memfd_noexec: 2\n");
  std::string id = unique_id("memfd-noexec");
  GuardBundle b({"sh", "-c", "cat /proc/sys/vm/memfd_noexec; /bin/attack memfd"}, policy);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_TRUE(c.out.starts_with("2\n")) << c.out << c.err;
  // The kernel refuses before anything runs (no event: the guard never sees an exec). Kernels
  // differ in where: 6.3-6.5 refuse memfd_create without MFD_NOEXEC_SEAL, later ones seal it.
  EXPECT_EQ(c.out.find("FILELESS-RAN"), std::string::npos) << c.out;
  EXPECT_TRUE(c.out.find("memfd_create: Permission denied") != std::string::npos ||
              c.out.find("exec: Permission denied") != std::string::npos)
      << c.out;
  EXPECT_EQ(read_file("/proc/sys/vm/memfd_noexec").value_or(""), "0\n");
}

}  // namespace
}  // namespace veil::test
