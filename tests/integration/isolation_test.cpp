// What a container sees: run real containers from the busybox rootfs and assert on what the
// process inside observes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

Cmd run_in(Bundle& b, const std::string& script, const Veil& v = Veil()) {
  b.config["process"]["args"] = {"/bin/sh", "-c", script};
  b.write();
  return v({"run", "--bundle", b.dir(), unique_id("iso")});
}

TEST(Isolation, OwnPidNamespaceWithPidOne) {
  REQUIRE_ROOT();
  Bundle b({});
  Cmd c = run_in(b, "echo pid=$$; ls /proc | grep -c '^[0-9][0-9]*$'");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("pid=1\n"), std::string::npos) << c.out;
  // Only the shell and ls (and grep) exist in the new pid namespace, not the host's processes.
  int n = std::stoi(c.out.substr(c.out.find('\n') + 1));
  EXPECT_LE(n, 4) << c.out;
}

TEST(Isolation, HostnameAndDomainname) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["hostname"] = "sandbox-42";
  b.config["domainname"] = "example.test";
  Cmd c = run_in(b, "hostname; cat /proc/sys/kernel/domainname");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "sandbox-42\nexample.test\n");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_STRNE(host, "sandbox-42");
}

TEST(Isolation, NoHostMountsVisible) {
  REQUIRE_ROOT();
  Bundle b({});
  Cmd c = run_in(b, "cat /proc/self/mounts");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out.find(rootfs()), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find(" /work"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find(" /sys/fs/bpf"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("proc /proc proc"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(" /tmp tmpfs"), std::string::npos) << c.out;
}

TEST(Isolation, MaskedPathsUnreadable) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["linux"]["maskedPaths"].push_back("/etc/passwd");
  Cmd c = run_in(b,
                 "wc -c < /etc/passwd; ls /proc/acpi 2>/dev/null | wc -l; "
                 "head -c 16 /proc/kcore | wc -c");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "0\n0\n0\n");
}

TEST(Isolation, ReadonlyPathsAndRootUnwritable) {
  REQUIRE_ROOT();
  Bundle b({});
  Cmd c = run_in(b,
                 "echo x > /proc/sys/kernel/domainname && echo sysctl-writable; "
                 "touch /newfile && echo root-writable; touch /tmp/ok && echo tmp-writable");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "tmp-writable\n");
  EXPECT_NE(c.err.find("Read-only file system"), std::string::npos) << c.err;
}

TEST(Isolation, CapabilitiesAsConfigured) {
  REQUIRE_ROOT();
  Bundle b({});
  // CAP_KILL (5) and CAP_NET_BIND_SERVICE (10): 0x420
  nlohmann::json caps = {"CAP_KILL", "CAP_NET_BIND_SERVICE"};
  b.config["process"]["capabilities"] = {{"bounding", caps},
                                         {"effective", caps},
                                         {"permitted", caps},
                                         {"inheritable", nlohmann::json::array()},
                                         {"ambient", nlohmann::json::array()}};
  Cmd c = run_in(b, "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("CapEff:\t0000000000000420"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("CapPrm:\t0000000000000420"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("CapBnd:\t0000000000000420"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("CapInh:\t0000000000000000"), std::string::npos) << c.out;
}

TEST(Isolation, CapabilityReallyMissing) {
  REQUIRE_ROOT();
  Bundle b({});
  // The default spec has no CAP_SYS_ADMIN: mounting must fail inside.
  Cmd c = run_in(b, "mount -t tmpfs none /mnt && echo mounted");
  EXPECT_EQ(c.out.find("mounted"), std::string::npos);
  EXPECT_NE(c.code, 0);
}

TEST(Isolation, RlimitsApplied) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 321}, {"hard", 654}},
                                    {{"type", "RLIMIT_NPROC"}, {"soft", 77}, {"hard", 77}}};
  Cmd c = run_in(b, "ulimit -n; ulimit -Hn; ulimit -u");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "321\n654\n77\n");
}

TEST(Isolation, UserAndGroups) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["process"]["user"] = {{"uid", 65534}, {"gid", 65534}, {"additionalGids", {10, 20}}};
  b.config["process"]["user"]["umask"] = 077;
  Cmd c = run_in(b, "id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "65534\n65534\n65534 10 20\n0077\n600\n");
}

TEST(Isolation, EnvAndCwd) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["process"]["env"].push_back("GREETING=hello from inside");
  b.config["process"]["cwd"] = "/etc";
  Cmd c = run_in(b, "pwd; echo $GREETING; echo home=$HOME");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "/etc\nhello from inside\nhome=/root\n");
}

TEST(Isolation, UserNamespaceMappings) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["linux"]["namespaces"].push_back({{"type", "user"}});
  b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  Cmd c = run_in(b,
                 "cat /proc/self/uid_map /proc/self/gid_map; id -u; sleep 5 & echo $! > /tmp/p; "
                 "cat /proc/self/status | grep ^Uid");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("0     100000      65536"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("\n0\n"), std::string::npos) << c.out;
}

TEST(Isolation, UserNamespaceHostUidIsMapped) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "10"});
  b.config["linux"]["namespaces"].push_back({{"type", "user"}});
  b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 1000}}};
  b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 1000}}};
  b.write();
  Veil v;
  std::string id = unique_id("userns");
  ASSERT_EQ(v({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  auto st = v.state(id);
  ASSERT_TRUE(st.is_object());
  int pid = st["pid"];
  // Seen from the host, the container's root is uid 200000.
  auto status = read_file("/proc/" + std::to_string(pid) + "/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(status->find("Uid:\t200000\t200000\t200000\t200000"), std::string::npos) << *status;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Isolation, JoinsNetworkNamespaceByPath) {
  REQUIRE_ROOT();
  std::string ns = unique_id("veilns");
  if (sh("ip netns add " + ns).code != 0) GTEST_SKIP() << "ip netns add failed (no iproute2?)";
  // A veth end named in the joined namespace proves it is that namespace, not a fresh one.
  ASSERT_EQ(sh("ip netns exec " + ns + " ip link add vt0-" + std::to_string(getpid() % 10000) +
               " type veth peer name vt1")
                .code,
            0);
  struct stat st;
  ASSERT_EQ(::stat(("/var/run/netns/" + ns).c_str(), &st), 0);
  Bundle b({});
  for (auto& n : b.config["linux"]["namespaces"])
    if (n["type"] == "network") n["path"] = "/var/run/netns/" + ns;
  Cmd c = run_in(b, "readlink /proc/self/ns/net; cat /proc/net/dev");
  sh("ip netns delete " + ns);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("net:[" + std::to_string(st.st_ino) + "]"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("vt0-"), std::string::npos) << c.out;
}

TEST(Isolation, OwnNetworkNamespaceHasOnlyLoopback) {
  REQUIRE_ROOT();
  Bundle b({});
  Cmd c = run_in(b, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "lo\n");
}

TEST(Isolation, NamespacedSysctl) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["linux"]["sysctl"] = {{"net.ipv4.ip_local_port_range", "40000 40100"}};
  auto host = read_file("/proc/sys/net/ipv4/ip_local_port_range");
  Cmd c = run_in(b, "cat /proc/sys/net/ipv4/ip_local_port_range");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "40000\t40100\n");
  EXPECT_EQ(read_file("/proc/sys/net/ipv4/ip_local_port_range"), host);
}

TEST(Isolation, HostSysctlRejected) {
  REQUIRE_ROOT();
  Bundle b({"/bin/true"});
  b.config["linux"]["sysctl"] = {{"kernel.panic", "1"}};
  b.write();
  Veil v;
  std::string id = unique_id("sysctl");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("linux.sysctl[\"kernel.panic\"]"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Isolation, NoNewPrivileges) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["process"]["noNewPrivileges"] = true;
  Cmd c = run_in(b, "grep NoNewPrivs /proc/self/status");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "NoNewPrivs:\t1\n");
}

TEST(Isolation, DefaultAndConfiguredDevices) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["linux"]["devices"] = {
      {{"path", "/dev/zero2"}, {"type", "c"}, {"major", 1}, {"minor", 5}, {"fileMode", 0640}}};
  Cmd c = run_in(b,
                 "stat -c '%n %t,%T %a' /dev/null /dev/zero2; head -c 3 /dev/zero2 | od -An -tx1; "
                 "ls /dev; readlink /dev/ptmx; readlink /dev/fd");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("/dev/null 1,3 666"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("/dev/zero2 1,5 640"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(" 00 00 00"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("pts/ptmx\n/proc/self/fd"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("sda"), std::string::npos) << c.out;
}

TEST(Isolation, TimeNamespaceOffsets) {
  REQUIRE_ROOT();
  Bundle b({});
  b.config["linux"]["namespaces"].push_back({{"type", "time"}});
  b.config["linux"]["timeOffsets"] = {{"boottime", {{"secs", 86400 * 365}, {"nanosecs", 0}}}};
  Cmd c = run_in(b, "cut -d. -f1 /proc/uptime");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_GE(std::stol(c.out), 86400L * 365);
}

TEST(Isolation, BindMountReadOnlyAndTmpfsOptions) {
  REQUIRE_ROOT();
  Bundle b({});
  std::string host_dir = b.dir() + "/shared";
  ASSERT_TRUE(mkdir_all(host_dir).has_value());
  ASSERT_TRUE(write_file_atomic(host_dir + "/hello.txt", "from the host\n").has_value());
  b.config["mounts"].push_back({{"destination", "/data"},
                                {"type", "bind"},
                                {"source", host_dir},
                                {"options", {"rbind", "ro", "nosuid"}}});
  b.config["mounts"].push_back({{"destination", "/scratch"},
                                {"type", "tmpfs"},
                                {"source", "tmpfs"},
                                {"options", {"size=1m", "mode=700"}}});
  Cmd c = run_in(b,
                 "cat /data/hello.txt; touch /data/x && echo data-writable; "
                 "stat -c %a /scratch; grep ' /scratch ' /proc/self/mounts");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("from the host\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("data-writable"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("700\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("size=1024k"), std::string::npos) << c.out;
  EXPECT_FALSE(path_exists(host_dir + "/x"));
}

TEST(Isolation, SymlinkInRootfsCannotEscape) {
  REQUIRE_ROOT();
  // A mount destination that is an absolute symlink must resolve inside the rootfs.
  std::string dir = "/tmp/" + unique_id("escape");
  ASSERT_TRUE(mkdir_all(dir + "/rootfs").has_value());
  ASSERT_EQ(sh("cp -a " + rootfs() + "/. " + dir + "/rootfs/ && ln -s /host-target " + dir +
               "/rootfs/evil")
                .code,
            0);
  Bundle b({"/bin/sh", "-c", "grep -q ' /host-target tmpfs' /proc/self/mounts && echo inside"});
  b.config["root"]["path"] = dir + "/rootfs";
  b.config["mounts"].push_back(
      {{"destination", "/evil"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"size=1m"}}});
  b.write();
  Veil v;
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("escape")});
  EXPECT_FALSE(path_exists("/host-target"));
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("inside"), std::string::npos);
  (void)remove_all(dir);
}

TEST(Isolation, NoPivotUsesChroot) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "hostname; ls /bin/busybox"});
  Veil v;
  Cmd c = v({"run", "--no-pivot", "--bundle", b.dir(), unique_id("nopivot")});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "veil-test\n/bin/busybox\n");
}

TEST(Isolation, PreserveFds) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "echo through-fd3 >&3"});
  Veil v;
  // fd 3 of the test's child (veil) must be the pipe: arrange it with a shell redirect.
  std::string cmd = std::string(VEIL_BINARY) + " --root " + v.root() +
                    " run --preserve-fds 1 --bundle " + b.dir() + " " + unique_id("fds") +
                    " 3>&1 >/dev/null";
  Cmd c = sh(cmd);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "through-fd3\n");
}

TEST(Isolation, OomScoreAdj) {
  REQUIRE_ROOT();
  Bundle b({"/bin/cat", "/proc/self/oom_score_adj"});
  b.config["process"]["oomScoreAdj"] = 500;
  b.write();
  Veil v;
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("oom")});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "500\n");
}

TEST(Isolation, NegativeOomScoreAdjReportedClearly) {
  REQUIRE_ROOT();
  if (write_file("/proc/self/oom_score_adj", "-1") && write_file("/proc/self/oom_score_adj", "0"))
    GTEST_SKIP() << "this host allows lowering oom_score_adj; the refusal cannot be observed";
  Bundle b({"/bin/true"});
  b.config["process"]["oomScoreAdj"] = -998;
  b.write();
  Veil v;
  std::string id = unique_id("oomneg");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("process.oomScoreAdj -998"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("CAP_SYS_RESOURCE"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Isolation, CgroupNamespaceSeesOwnRoot) {
  REQUIRE_ROOT();
  Bundle b({"/bin/cat", "/proc/self/cgroup"});
  b.config["linux"]["namespaces"].push_back({{"type", "cgroup"}});
  b.write();
  Veil v;
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("cgns")});
  ASSERT_EQ(c.code, 0) << c.err;
  // Every hierarchy line ends in ":/": the container's cgroup is its root.
  EXPECT_EQ(c.out.find("veil"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("0::/\n"), std::string::npos) << c.out;
}

}  // namespace
}  // namespace veil::test
