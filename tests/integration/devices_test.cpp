// Device rules that hold, with each way veil can enforce them: "auto" (what the host probes to:
// the v1 devices controller here, a BPF program on pure cgroup v2 hosts) and "bpf" (forced with
// VEIL_CGROUP_DEVICES=bpf: the program on the container's cgroup v2 directory, which the kernel
// also enforces on a hybrid host).
#include <stdlib.h>
#include <unistd.h>

#include <memory>

#include "base/file.hpp"
#include "harness.hpp"
#include "linux/cgroup_devices_bpf.hpp"
#include "linux/cgroups.hpp"

namespace veil::test {
namespace {

// The container's directory in the cgroup v2 hierarchy ("" without one).
std::string v2_dir(const std::string& id) {
  auto layout = cgroups::probe();
  if (!layout) return "";
  for (const auto& h : layout->hierarchies)
    if (h.v2) return h.mountpoint + "/veil/" + id;
  return "";
}

class Devices : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    bool bpf = GetParam() == "bpf";
    if (bpf) {
      auto layout = cgroups::probe();
      bool v2 = false;
      for (const auto& h : layout ? layout->hierarchies : std::vector<cgroups::Hierarchy>{})
        v2 = v2 || h.v2;
      if (!v2) GTEST_SKIP() << "no cgroup v2 hierarchy on this host to attach a device program to";
      ::setenv("VEIL_CGROUP_DEVICES", "bpf", 1);
    } else {
      ::unsetenv("VEIL_CGROUP_DEVICES");
    }
  }
  void TearDown() override { ::unsetenv("VEIL_CGROUP_DEVICES"); }
  bool bpf() const { return GetParam() == "bpf"; }

  // A bundle whose process may mknod (so only the device rules stop an open).
  std::unique_ptr<Bundle> bundle(const std::string& script, const nlohmann::json& rules) {
    auto b = std::make_unique<Bundle>(std::vector<std::string>{"/bin/sh", "-c", script});
    nlohmann::json caps = {"CAP_MKNOD"};
    b->config["process"]["capabilities"] = {
        {"bounding", caps}, {"effective", caps}, {"permitted", caps}};
    if (!rules.is_null()) b->config["linux"]["resources"] = {{"devices", rules}};
    b->write();
    return b;
  }
  // The device programs attached to the container's v2 directory.
  size_t programs(const std::string& id) {
    auto ids = cgroups::bpf_devices::attached(v2_dir(id));
    return ids ? ids->size() : 0;
  }
};

const nlohmann::json kDenyAll = {{{"allow", false}, {"access", "rwm"}}};
// Opens /dev/tun (c 10:200, made by the script) read-write, then /dev/null.
const std::string kOpenTun =
    "mknod /dev/tun c 10 200 && { (exec 3<>/dev/tun) && echo tun-open || echo tun-denied; }; "
    "(exec 3<>/dev/null) && echo null-open";

TEST_P(Devices, DeviceOutsideTheAllowListCannotBeOpened) {
  Veil v;
  auto open_b = bundle(kOpenTun, nullptr);
  Cmd open = v({"run", "--bundle", open_b->dir(), unique_id("devopen")});
  EXPECT_EQ(open.out, "tun-open\nnull-open\n") << open.err;  // without rules: nothing stops it
  auto deny_b = bundle(kOpenTun, kDenyAll);
  std::string id = unique_id("devdeny");
  Cmd denied = v({"run", "--bundle", deny_b->dir(), id});
  EXPECT_EQ(denied.code, 0) << denied.err;
  EXPECT_EQ(denied.out, "tun-denied\nnull-open\n") << denied.err;  // standard devices stay usable
  EXPECT_NE(denied.err.find("/dev/tun: Operation not permitted"), std::string::npos) << denied.err;
  EXPECT_TRUE(nothing_left(v, id, *deny_b));
}

TEST_P(Devices, DeviceInTheAllowListOpens) {
  Veil v;
  nlohmann::json rules = kDenyAll;
  rules.push_back(
      {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 200}, {"access", "rw"}});
  auto b = bundle(kOpenTun, rules);
  Cmd c = v({"run", "--bundle", b->dir(), unique_id("devallow")});
  EXPECT_EQ(c.out, "tun-open\nnull-open\n") << c.err;
  // Read-only access is not enough for a read-write open.
  rules.back()["access"] = "r";
  auto ro = bundle(kOpenTun + "; (exec 3</dev/tun) && echo tun-read", rules);
  Cmd r = v({"run", "--bundle", ro->dir(), unique_id("devread")});
  EXPECT_EQ(r.out, "tun-denied\nnull-open\ntun-read\n") << r.err;
}

// A deny in linux.resources.devices holds for nodes listed in linux.devices too (runc does the
// same: only its default devices stay allowed whatever the rules say; runc 1.1 also keeps
// /dev/net/tun in that list, runc 1.2 and veil do not — docs/runtime.md).
TEST_P(Devices, ConfigDevicesObeyADenyAll) {
  Veil v;
  auto b = bundle(
      "(exec 3</dev/kmsg) && echo kmsg-read; (exec 3>/dev/kmsg) && echo kmsg-write; "
      "(exec 3<>/dev/net/tun) && echo tun-open",
      kDenyAll);
  b->config["linux"]["devices"] = {
      {{"path", "/dev/kmsg"}, {"type", "c"}, {"major", 1}, {"minor", 11}},
      {{"path", "/dev/net/tun"}, {"type", "c"}, {"major", 10}, {"minor", 200}}};
  b->write();
  std::string id = unique_id("devcfg");
  Cmd c = v({"run", "--bundle", b->dir(), id});
  EXPECT_EQ(c.out, "") << c.err;
  EXPECT_NE(c.err.find("/dev/kmsg: Operation not permitted"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("/dev/net/tun: Operation not permitted"), std::string::npos) << c.err;

  // With an allow rule for it, the listed device opens (for writing: reading /dev/kmsg also
  // needs CAP_SYSLOG where dmesg_restrict is set).
  b->config["linux"]["resources"]["devices"].push_back(
      {{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 11}, {"access", "w"}});
  b->write();
  c = v({"run", "--bundle", b->dir(), unique_id("devcfg")});
  EXPECT_NE(c.out.find("kmsg-write"), std::string::npos) << c.err;
}

TEST_P(Devices, UpdateReplacesTheRules) {
  Veil v;
  auto b = bundle("mknod /dev/tun c 10 200 && exec sleep 60", kDenyAll);
  std::string id = unique_id("devupd");
  ASSERT_EQ(v({"run", "-d", "--bundle", b->dir(), id}).code, 0);
  auto try_open = [&](const char* redirect) {
    std::string script = std::string("(exec 3") + redirect + "/dev/tun) && echo open";
    for (int i = 0; i < 100; ++i) {  // the node is made right after start
      Cmd c = v({"exec", id, "/bin/sh", "-c", script});
      if (c.err.find("No such file") == std::string::npos) return c.out + c.err;
      usleep(20000);
    }
    return std::string("no /dev/tun");
  };
  EXPECT_NE(try_open("<>").find("Operation not permitted"), std::string::npos);
  if (bpf()) {
    EXPECT_EQ(programs(id), 1u);
  }

  Cmd u = v({"update", "--resources", "-", id},
            R"({"devices": [{"allow": true, "type": "c", "major": 10, "minor": 200,
                             "access": "rw"}]})");
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(try_open("<>"), "open\n");
  if (bpf()) {
    EXPECT_EQ(programs(id), 1u);  // replaced, not stacked
  }

  // A later deny of write only: reading still works, read-write does not; the earlier deny-all
  // still holds for everything else.
  u = v({"update", "--resources", "-", id},
        R"({"devices": [{"allow": false, "type": "c", "major": 10, "minor": 200,
                         "access": "w"}]})");
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(try_open("<"), "open\n");
  EXPECT_NE(try_open("<>").find("Operation not permitted"), std::string::npos);
  Cmd other = v({"exec", id, "/bin/sh", "-c", "mknod /dev/loopx c 7 0 && cat /dev/loopx"});
  EXPECT_NE(other.err.find("Operation not permitted"), std::string::npos) << other.err;
  if (bpf()) {
    EXPECT_EQ(programs(id), 1u);
  }

  Cmd bad = v({"update", "--resources", "-", id}, R"({"devices": [{"allow": true, "type": "q"}]})");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("resources.devices[0].type"), std::string::npos) << bad.err;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, *b));
}

TEST_P(Devices, BadRuleIsRefusedAndLeavesNothing) {
  Veil v;
  struct Case {
    nlohmann::json rule;
    const char* path;
  } cases[] = {
      {{{"allow", true}, {"type", "x"}}, "linux.resources.devices[1].type"},
      {{{"allow", true}, {"type", "c"}, {"major", 5000}}, "linux.resources.devices[1].major"},
      {{{"allow", true}, {"type", "c"}, {"access", "rwx"}}, "linux.resources.devices[1].access"},
  };
  for (const auto& c : cases) {
    nlohmann::json rules = kDenyAll;
    rules.push_back(c.rule);
    auto b = bundle("true", rules);
    std::string id = unique_id("devbad");
    Cmd r = v({"run", "--bundle", b->dir(), id});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(c.path), std::string::npos) << r.err;
    EXPECT_TRUE(nothing_left(v, id, *b));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Devices, ::testing::Values("auto", "bpf"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace veil::test
