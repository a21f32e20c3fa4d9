// The runc command line that clients and scripts rely on, each flag against a real container:
// run --keep, exec -g/--cgroup/--ignore-paused (and 255 for a failed exec), update --memory -1,
// --cpu-rt-period, quota/period against a parent's limit, ps with ps(1) options, list --format
// json, --help everywhere, --debug, --version, the not-empty-cgroup warning.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

std::string cgroup_dir(const Veil& v, const std::string& id, const std::string& hierarchy) {
  auto st = v.state(id);
  if (!st.is_object()) return "";
  auto cg = read_file("/proc/" + std::to_string(st["pid"].get<int>()) + "/cgroup").value_or("");
  // "N:memory:/veil/id" on v1 hierarchies, "0::/path" for the unified one.
  for (const auto& line : split(cg, '\n')) {
    auto f = split(line, ':');
    if (f.size() < 3) continue;
    bool v2 = f[1].empty();
    if ((v2 && hierarchy == "unified") || f[1] == hierarchy)
      return "/sys/fs/cgroup/" + hierarchy + f[2];
  }
  return "";
}

TEST(CliParity, RunKeepLeavesTheStoppedContainer) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sh", "-c", "exit 7"});
  std::string id = unique_id("keep");
  Cmd c = v({"run", "--keep", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 7) << c.err;
  auto st = v.state(id);
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["status"], "stopped");
  EXPECT_EQ(v({"delete", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(CliParity, ExecAdditionalGidsAndFailureStatus) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  std::string id = unique_id("gids");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd c = v({"exec", "-g", "10", "--additional-gids", "20", id, "/bin/id", "-G"});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find(" 10 20"), std::string::npos) << c.out;
  // A failure of exec itself is 255 (the process's own statuses stay unambiguous), as runc.
  EXPECT_EQ(v({"exec", id, "/no/such/program"}).code, 255);
  EXPECT_EQ(v({"exec", unique_id("nosuch"), "/bin/true"}).code, 255);
  EXPECT_EQ(v({"exec", "--cwd", "/proc/self/fd/99", id, "/bin/true"}).code, 255);
  v({"delete", "--force", id});
}

TEST(CliParity, ExecIntoASubCgroup) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  std::string id = unique_id("execcg");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  std::string mem = cgroup_dir(v, id, "memory");
  if (mem.empty()) GTEST_SKIP() << "no v1 memory hierarchy on this host";
  ASSERT_EQ(::mkdir((mem + "/sub").c_str(), 0755), 0);
  Cmd c = v({"exec", "--cgroup", "memory:sub", id, "/bin/cat", "/proc/self/cgroup"});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find(":memory:/veil/" + id + "/sub\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find(":pids:/veil/" + id + "/sub"), std::string::npos) << c.out;
  Cmd bad = v({"exec", "--cgroup", "nosuchsub", id, "/bin/true"});
  EXPECT_EQ(bad.code, 255);
  EXPECT_NE(bad.err.find("does not exist"), std::string::npos) << bad.err;
  // A process left in the sub-cgroup: ps and kill --all reach it, delete removes both cgroups.
  ASSERT_EQ(v({"exec", "-d", "--cgroup", "memory:sub", id, "/bin/sleep", "30"}).code, 0);
  auto pids = nlohmann::json::parse(v({"ps", "--format", "json", id}).out, nullptr, false);
  EXPECT_EQ(pids.size(), 2u) << pids.dump();
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_FALSE(path_exists(mem + "/sub"));
  EXPECT_FALSE(path_exists(mem));
}

TEST(CliParity, ExecIntoAPausedContainer) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  std::string id = unique_id("execpaused");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  ASSERT_EQ(v({"pause", id}).code, 0);
  Cmd refused = v({"exec", id, "/bin/true"});
  EXPECT_EQ(refused.code, 255);
  EXPECT_NE(refused.err.find("cannot exec in a paused container (use --ignore-paused to override)"),
            std::string::npos)
      << refused.err;
  // --ignore-paused: the process exists, frozen with the container, and runs on resume.
  auto t0 = std::chrono::steady_clock::now();
  Cmd d = v({"exec", "--ignore-paused", "-d", id, "/bin/touch", "/tmp/ran"});
  EXPECT_EQ(d.code, 0) << d.err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  ASSERT_EQ(v({"resume", id}).code, 0);
  bool ran = false;
  for (int i = 0; i < 200 && !ran; ++i) {
    ran = v({"exec", id, "/bin/test", "-e", "/tmp/ran"}).code == 0;
    if (!ran) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(ran);
  v({"delete", "--force", id});
}

TEST(CliParity, UpdateMemoryUnlimitedAndRealtimePeriod) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  b.config["linux"]["resources"] = {{"memory", {{"limit", 64 << 20}}}};
  b.write();
  std::string id = unique_id("updmem");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  std::string mem = cgroup_dir(v, id, "memory");
  if (mem.empty()) GTEST_SKIP() << "no v1 memory hierarchy on this host";
  EXPECT_EQ(read_file(mem + "/memory.limit_in_bytes").value_or(""), "67108864\n");
  Cmd c = v({"update", "--memory", "-1", id});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_GT(std::atoll(read_file(mem + "/memory.limit_in_bytes").value_or("0").c_str()), 1LL << 60);
  std::string cpu = cgroup_dir(v, id, "cpu");
  if (!cpu.empty() && path_exists(cpu + "/cpu.rt_period_us")) {
    Cmd rt = v({"update", "--cpu-rt-period", "500000", id});
    EXPECT_EQ(rt.code, 0) << rt.err;
    EXPECT_EQ(read_file(cpu + "/cpu.rt_period_us").value_or(""), "500000\n");
  }
  v({"delete", "--force", id});
}

// Under a parent limited to half a CPU, going from 40000/100000 to 10000/25000 is only possible
// quota first (period first would make 40000/25000 for a moment): veil retries in that order.
TEST(CliParity, CpuQuotaAndPeriodAgainstAParentLimit) {
  REQUIRE_ROOT();
  if (!path_exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) GTEST_SKIP() << "no v1 cpu hierarchy";
  Veil v;
  std::string parent = unique_id("cpuparent");
  std::string pdir = "/sys/fs/cgroup/cpu/" + parent;
  ASSERT_EQ(::mkdir(pdir.c_str(), 0755), 0);
  struct Rm {
    std::string d;
    ~Rm() { ::rmdir(d.c_str()); }
  } rm{pdir};
  ASSERT_TRUE(write_file(pdir + "/cpu.cfs_quota_us", "50000"));
  Bundle b({"/bin/sleep", "30"});
  b.config["linux"]["cgroupsPath"] = "/" + parent + "/ctr";
  b.config["linux"]["resources"] = {{"cpu", {{"quota", 40000}, {"period", 100000}}}};
  b.write();
  std::string id = unique_id("cpuorder");
  Cmd r = v({"run", "-d", "--bundle", b.dir(), id});
  ASSERT_EQ(r.code, 0) << r.err;
  Cmd c = v({"update", "--cpu-quota", "10000", "--cpu-period", "25000", id});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(read_file(pdir + "/ctr/cpu.cfs_quota_us").value_or(""), "10000\n");
  EXPECT_EQ(read_file(pdir + "/ctr/cpu.cfs_period_us").value_or(""), "25000\n");
  v({"delete", "--force", id});
  for (const char* h : {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                        "systemd", "unified"})
    ::rmdir(("/sys/fs/cgroup/" + std::string(h) + "/" + parent).c_str());
}

TEST(CliParity, PsTakesPsOptionsAndListPrintsJson) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  std::string id = unique_id("ps");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd def = v({"ps", id});
  ASSERT_EQ(def.code, 0) << def.err;
  EXPECT_EQ(def.out.rfind("UID ", 0), 0u) << def.out;  // ps -ef's header, as runc
  EXPECT_NE(def.out.find("sleep 30"), std::string::npos) << def.out;
  EXPECT_EQ(def.out.find("veil"), std::string::npos) << def.out;  // only the container's
  Cmd opt = v({"ps", id, "--", "-o", "pid,comm"});
  ASSERT_EQ(opt.code, 0) << opt.err;
  EXPECT_NE(opt.out.find("COMMAND"), std::string::npos) << opt.out;
  EXPECT_NE(opt.out.find("sleep"), std::string::npos) << opt.out;
  Cmd list = v({"list", "--format", "json"});
  ASSERT_EQ(list.code, 0) << list.err;
  auto j = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << list.out;
  ASSERT_EQ(j.size(), 1u);
  for (const char* k :
       {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"})
    EXPECT_TRUE(j[0].contains(k)) << k;
  EXPECT_EQ(j[0]["status"], "running");
  v({"delete", "--force", id});
}

TEST(CliParity, HelpOnEveryCommandVersionAndDebug) {
  REQUIRE_ROOT();
  Veil v;
  for (const char* cmd :
       {"create", "start", "run", "state", "kill", "delete", "list", "pause", "resume", "update",
        "ps", "events", "exec", "spec", "features", "check", "measure", "attest"}) {
    for (const char* h : {"--help", "-h"}) {
      Cmd c = v({cmd, h});
      EXPECT_EQ(c.code, 0) << cmd << " " << h << ": " << c.err;
      EXPECT_EQ(c.out.rfind("usage: veil " + std::string(cmd), 0), 0u) << cmd << ": " << c.out;
    }
  }
  Cmd ver = run({VEIL_BINARY, "--version"});
  EXPECT_EQ(ver.out.rfind("veil version ", 0), 0u) << ver.out;
  for (const char* line : {"\ncommit: ", "\nspec: ", "\nlibseccomp: "})
    EXPECT_NE(ver.out.find(line), std::string::npos) << ver.out;
  Bundle b({"/bin/true"});
  Cmd d = v({"--debug", "run", "--bundle", b.dir(), unique_id("debug")});
  EXPECT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.err.find("created, pid"), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("waiting for the container process"), std::string::npos) << d.err;
}

TEST(CliParity, AContainerInACgroupWithProcessesIsWarnedAbout) {
  REQUIRE_ROOT();
  if (!path_exists("/sys/fs/cgroup/pids/cgroup.procs")) GTEST_SKIP() << "no v1 pids hierarchy";
  Veil v;
  std::string name = unique_id("busycg");
  std::string dir = "/sys/fs/cgroup/pids/" + name;
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  pid_t sleeper = ::fork();
  if (sleeper == 0) {
    (void)write_file(dir + "/cgroup.procs", "0");
    ::execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(1);
  }
  for (int i = 0; i < 100 && read_file(dir + "/cgroup.procs").value_or("").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  Bundle b({"/bin/true"});
  b.config["linux"]["cgroupsPath"] = "/" + name;
  b.write();
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("busycg")});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.err.find("container's cgroup is not empty: 1 process(es) found"), std::string::npos)
      << c.err;
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
  for (const char* h : {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                        "systemd", "unified"})
    ::rmdir(("/sys/fs/cgroup/" + std::string(h) + "/" + name).c_str());
}

}  // namespace
}  // namespace veil::test
