// Limits that hold: real containers with linux.resources, pause/resume, update and ps.
#include <unistd.h>

#include <thread>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

// The container's file for a controller: the v1 hierarchy when mounted, else cgroup v2.
std::string cg_file(const std::string& id, const std::string& controller, const std::string& v1,
                    const std::string& v2) {
  std::string d1 = "/sys/fs/cgroup/" + controller + "/veil/" + id + "/" + v1;
  if (path_exists(d1)) return d1;
  for (const char* root : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    std::string d2 = std::string(root) + "/veil/" + id + "/" + v2;
    if (path_exists(d2)) return d2;
  }
  return "";
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(Cgroups, ForkBombStopsAtPidsLimit) {
  REQUIRE_ROOT();
  // The inner shell forks until the kernel refuses (and then dies of it); pid 1 then becomes sleep.
  Bundle b({"/bin/sh", "-c", "sh -c 'while :; do sleep 60 & done' 2>/dev/null; exec sleep 30"});
  b.config["linux"]["resources"] = {{"pids", {{"limit", 30}}}};
  b.write();
  Veil v;
  std::string id = unique_id("bomb");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  auto pids = nlohmann::json::parse(v({"ps", "--format", "json", id}).out);
  EXPECT_LE(pids.size(), 30u);
  EXPECT_GE(pids.size(), 10u);  // it really tried
  std::string max = cg_file(id, "pids", "pids.max", "pids.max");
  ASSERT_FALSE(max.empty());
  EXPECT_EQ(trim(*read_file(max)), "30");
  std::string events = cg_file(id, "pids", "pids.events", "pids.events");
  auto ev = read_file(events);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->find("max 0"), std::string::npos) << *ev;  // forks were refused
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Cgroups, MemoryHogIsOomKilledAtItsLimit) {
  REQUIRE_ROOT();
  const std::string hog = "dd if=/dev/zero of=/dev/null bs=96M count=1 2>/dev/null; echo rc=$?";
  Veil v;
  {
    Bundle b({"/bin/sh", "-c", hog});
    Cmd c = v({"run", "--bundle", b.dir(), unique_id("nolimit")});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(c.out, "rc=0\n");  // without a limit the same program succeeds
  }
  Bundle b({"/bin/sh", "-c", hog});
  b.config["linux"]["resources"] = {{"memory", {{"limit", 32 << 20}, {"swap", 32 << 20}}}};
  b.write();
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("oomhog")});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "rc=137\n");  // SIGKILLed by the OOM killer
}

TEST(Cgroups, CpuAndMemorySettingsReachTheKernel) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "30"});
  b.config["linux"]["resources"] = {
      {"cpu", {{"shares", 512}, {"quota", 50000}, {"period", 100000}, {"cpus", "0"}}},
      {"memory", {{"limit", 64 << 20}, {"reservation", 32 << 20}}}};
  b.write();
  Veil v;
  std::string id = unique_id("cpu");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  std::string quota = cg_file(id, "cpu", "cpu.cfs_quota_us", "cpu.max");
  ASSERT_FALSE(quota.empty());
  if (quota.ends_with("cpu.max")) {
    EXPECT_EQ(trim(*read_file(quota)), "50000 100000");
  } else {
    EXPECT_EQ(trim(*read_file(quota)), "50000");
    EXPECT_EQ(trim(*read_file(cg_file(id, "cpu", "cpu.shares", "cpu.weight"))), "512");
  }
  std::string mem = cg_file(id, "memory", "memory.limit_in_bytes", "memory.max");
  EXPECT_EQ(trim(*read_file(mem)), std::to_string(64 << 20));
  EXPECT_EQ(trim(*read_file(cg_file(id, "cpuset", "cpuset.cpus", "cpuset.cpus"))), "0");
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Cgroups, UpdateChangesLiveLimits) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "30"});
  b.config["linux"]["resources"] = {{"pids", {{"limit", 100}}}};
  b.write();
  Veil v;
  std::string id = unique_id("update");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd u = v({"update", "--pids-limit", "7", "--memory", "48m", id});
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(trim(*read_file(cg_file(id, "pids", "pids.max", "pids.max"))), "7");
  EXPECT_EQ(trim(*read_file(cg_file(id, "memory", "memory.limit_in_bytes", "memory.max"))),
            std::to_string(48 << 20));
  Cmd r = v({"update", "--resources", "-", id}, R"({"pids": {"limit": 9}})");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(trim(*read_file(cg_file(id, "pids", "pids.max", "pids.max"))), "9");
  Cmd bad = v({"update", "--memory", "lots", id});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--memory"), std::string::npos) << bad.err;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
}

TEST(Cgroups, PauseFreezesAndResumeThaws) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /data/c; sleep 0.01; done"});
  std::string data = b.dir() + "/data";
  ASSERT_TRUE(mkdir_all(data).has_value());
  b.config["mounts"].push_back(
      {{"destination", "/data"}, {"type", "bind"}, {"source", data}, {"options", {"rbind"}}});
  b.write();
  Veil v;
  std::string id = unique_id("pause");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(v({"pause", id}).code, 0);
  EXPECT_EQ(v.state(id)["status"], "paused");
  auto c1 = read_file(data + "/c");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto c2 = read_file(data + "/c");
  EXPECT_EQ(c1, c2);  // nothing ran while frozen
  Cmd again = v({"pause", id});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("paused"), std::string::npos) << again.err;
  ASSERT_EQ(v({"resume", id}).code, 0);
  EXPECT_EQ(v.state(id)["status"], "running");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto c3 = read_file(data + "/c");
  EXPECT_NE(c2, c3);
  // A paused container can be force-deleted.
  ASSERT_EQ(v({"pause", id}).code, 0);
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Cgroups, PsListsTheContainersProcesses) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "sleep 31 & sleep 32"});
  Veil v;
  std::string id = unique_id("ps");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Cmd t = v({"ps", id});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("sleep 31"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("sleep 32"), std::string::npos) << t.out;
  auto j = nlohmann::json::parse(v({"ps", "--format", "json", id}).out);
  EXPECT_EQ(j.size(), 2u);  // sh execs the last command: sleep 32 is pid 1
  EXPECT_NE(std::find(j.begin(), j.end(), v.state(id)["pid"]), j.end());
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
}

TEST(Cgroups, UnsupportedResourceIsRefusedNotIgnored) {
  REQUIRE_ROOT();
  Bundle b({"/bin/true"});
  b.config["linux"]["resources"] = {{"rdma", {{"mlx5_0", {{"hcaHandles", 3}}}}}};
  b.write();
  Veil v;
  std::string id = unique_id("rdma");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("linux.resources.rdma"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

}  // namespace
}  // namespace veil::test
