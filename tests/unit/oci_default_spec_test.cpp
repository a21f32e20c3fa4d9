#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/vfs.h>

#include <algorithm>
#include <string>

#include "oci/spec.hpp"

using nlohmann::json;
using namespace veil::oci;

namespace {

bool host_cgroup2() {
  struct statfs st {};
  return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

const json* find_mount(const json& spec, const std::string& dest) {
  for (const auto& m : spec["mounts"])
    if (m["destination"] == dest) return &m;
  return nullptr;
}

std::vector<std::string> ns_names(const json& spec) {
  std::vector<std::string> out;
  for (const auto& n : spec["linux"]["namespaces"]) out.push_back(n["type"]);
  return out;
}

}  // namespace

TEST(OciDefaultSpec, MatchesRunc) {
  json s = default_spec(false, 1000, 1000);
  EXPECT_EQ(s["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(s["hostname"], "veil");
  EXPECT_EQ(s["root"], (json{{"path", "rootfs"}, {"readonly", true}}));

  const json& p = s["process"];
  EXPECT_EQ(p["terminal"], true);
  EXPECT_EQ(p["user"], (json{{"uid", 0}, {"gid", 0}}));
  EXPECT_EQ(p["args"], json::array({"sh"}));
  EXPECT_EQ(p["env"],
            json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "TERM=xterm"}));
  EXPECT_EQ(p["cwd"], "/");
  EXPECT_EQ(p["noNewPrivileges"], true);
  json caps = json::array({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
  EXPECT_EQ(p["capabilities"],
            (json{{"bounding", caps}, {"effective", caps}, {"permitted", caps}}));
  EXPECT_EQ(p["rlimits"],
            json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}));

  std::vector<std::string> dests;
  for (const auto& m : s["mounts"]) dests.push_back(m["destination"]);
  EXPECT_EQ(dests, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                             "/sys", "/sys/fs/cgroup"}));
  EXPECT_FALSE(find_mount(s, "/proc")->contains("options"));
  EXPECT_EQ((*find_mount(s, "/dev"))["options"],
            json::array({"nosuid", "strictatime", "mode=755", "size=65536k"}));
  EXPECT_EQ(
      (*find_mount(s, "/dev/pts"))["options"],
      json::array({"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
  EXPECT_EQ((*find_mount(s, "/dev/shm"))["source"], "shm");
  EXPECT_EQ((*find_mount(s, "/dev/shm"))["options"],
            json::array({"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  EXPECT_EQ((*find_mount(s, "/sys"))["type"], "sysfs");
  EXPECT_EQ((*find_mount(s, "/sys/fs/cgroup"))["options"],
            json::array({"nosuid", "noexec", "nodev", "relatime", "ro"}));

  const json& l = s["linux"];
  EXPECT_EQ(l["resources"],
            (json{{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}));
  std::vector<std::string> want_ns = {"pid", "network", "ipc", "uts", "mount"};
  if (host_cgroup2()) want_ns.push_back("cgroup");
  EXPECT_EQ(ns_names(s), want_ns);
  EXPECT_EQ(l["maskedPaths"].size(), 10u);
  EXPECT_EQ(l["maskedPaths"][0], "/proc/acpi");
  EXPECT_EQ(l["readonlyPaths"], json::array({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                             "/proc/sysrq-trigger"}));
  EXPECT_FALSE(l.contains("uidMappings"));
}

TEST(OciDefaultSpec, RoundTripsThroughParser) {
  auto r = parse_spec(default_spec(false, 0, 0).dump(2));
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->oci_version, "1.0.2-dev");
  EXPECT_TRUE(r->has_process);
  EXPECT_EQ(r->process.args, std::vector<std::string>{"sh"});
  ASSERT_TRUE(r->process.capabilities);
  EXPECT_EQ(r->process.capabilities->bounding,
            (std::vector<int>{CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE}));
  EXPECT_TRUE(r->process.capabilities->ambient.empty());
  ASSERT_EQ(r->process.rlimits.size(), 1u);
  EXPECT_EQ(r->process.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(r->root.path, "rootfs");
  EXPECT_TRUE(r->root.readonly);
  EXPECT_EQ(r->mounts.size(), 7u);
  EXPECT_NE(r->linux.find(NsType::network), nullptr);
  EXPECT_EQ(r->linux.find(NsType::user), nullptr);
  EXPECT_TRUE(r->linux.resources.is_object());
}

TEST(OciDefaultSpec, Rootless) {
  json s = default_spec(true, 1234, 5678);
  std::vector<std::string> ns = ns_names(s);
  EXPECT_EQ(std::count(ns.begin(), ns.end(), "network"), 0);
  EXPECT_EQ(ns.back(), "user");
  EXPECT_EQ(s["linux"]["uidMappings"],
            json::array({{{"containerID", 0}, {"hostID", 1234}, {"size", 1}}}));
  EXPECT_EQ(s["linux"]["gidMappings"],
            json::array({{{"containerID", 0}, {"hostID", 5678}, {"size", 1}}}));
  EXPECT_FALSE(s["linux"].contains("resources"));
  EXPECT_EQ((*find_mount(s, "/dev/pts"))["options"],
            json::array({"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}));
  const json* sys = find_mount(s, "/sys");
  ASSERT_NE(sys, nullptr);
  EXPECT_EQ(*sys, (json{{"destination", "/sys"},
                        {"type", "none"},
                        {"source", "/sys"},
                        {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}}));
  EXPECT_EQ(s["mounts"].size(), 7u);  // runc keeps /sys/fs/cgroup
  EXPECT_FALSE(find_mount(s, "/proc")->contains("options"));

  auto r = parse_spec(s.dump());
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->linux.uid_mappings.at(0).host_id, 1234u);
  EXPECT_EQ(r->linux.gid_mappings.at(0).host_id, 5678u);
  EXPECT_TRUE(r->linux.resources.is_null());
  EXPECT_EQ(r->linux.find(NsType::network), nullptr);
}
