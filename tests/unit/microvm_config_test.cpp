// The container's config as the guest's veil sees it, and the VM's shape and host resources
// (runtime/microvm/guest_config.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include "base/file.hpp"
#include "runtime/microvm/guest_config.hpp"

namespace veil::runtime::microvm {
namespace {

using nlohmann::json;

json base_config() {
  return json::parse(R"({
    "ociVersion": "1.0.2", "root": {"path": "rootfs"},
    "process": {"args": ["sh"], "cwd": "/"},
    "annotations": {"org.veil.handler": "microvm", "keep": "me"},
    "hooks": {"prestart": [{"path": "/bin/true"}]},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/pod"},
                             {"type": "ipc", "path": "/proc/1/ns/ipc"}, {"type": "mount"}],
              "resources": {"memory": {"limit": 268435456}, "cpu": {"quota": 150000, "period": 100000},
                            "pids": {"limit": 10}}}})");
}

TEST(MicrovmConfig, RewritesHostPathsForTheGuest) {
  auto gc = guest_config(base_config());
  ASSERT_TRUE(gc) << gc.error().str();
  EXPECT_EQ(gc->config["root"]["path"], "/run/veil-rootfs");
  EXPECT_FALSE(gc->config["annotations"].contains("org.veil.handler"));
  EXPECT_EQ(gc->config["annotations"]["keep"], "me");
  EXPECT_FALSE(gc->config.contains("hooks"));
  // The pod's network namespace becomes the VM's NIC: no network entry; other paths are dropped
  // with a warning (the guest makes new ones).
  json want = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "mount"}}});
  EXPECT_EQ(gc->config["linux"]["namespaces"], want);
  EXPECT_EQ(gc->warnings.size(), 1u);
  EXPECT_EQ(network_namespace_path(base_config()), "/run/netns/pod");
}

TEST(MicrovmConfig, BindsAreCopiedSharedOrRefusedByName) {
  std::string d = "/tmp/veil-mvcfg-" + std::to_string(::getpid());
  ASSERT_TRUE(mkdir_all(d + "/sub"));
  ASSERT_TRUE(write_file_atomic(d + "/sub/f", "abc"));
  auto c = base_config();
  c["mounts"].push_back(
      {{"destination", "/ro"}, {"source", d}, {"type", "bind"}, {"options", {"rbind", "ro"}}});
  c["mounts"].push_back(
      {{"destination", "/dev/shm"}, {"source", d}, {"type", "bind"}, {"options", {"rbind"}}});
  auto gc = guest_config(c);
  ASSERT_TRUE(gc) << gc.error().str();
  EXPECT_EQ(gc->config["mounts"][1]["source"], "/run/veil-binds/0");
  EXPECT_EQ(gc->config["mounts"][2]["type"], "tmpfs");
  bool found = false;
  for (const auto& f : gc->files)
    if (f.value("path", "") == "/run/veil-binds/0/sub/f") found = f.value("hex", "") == "616263";
  EXPECT_TRUE(found) << gc->files.dump();

  // Writable directories are volumes: shared (virtio-fs), mounted by the agent by tag.
  auto rw = base_config();
  for (int i = 0; i < 4; ++i)
    rw["mounts"].push_back({{"destination", "/data" + std::to_string(i)},
                            {"source", d},
                            {"type", "bind"},
                            {"options", {"rbind"}}});
  auto r = guest_config(rw);
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->volumes.size(), 4u);
  EXPECT_EQ(r->volumes[3].source, d);
  EXPECT_EQ(r->volumes[3].tag, "vol3");
  EXPECT_EQ(r->config["mounts"][4]["source"], "/run/veil-volumes/vol3");
  rw["mounts"].push_back(
      {{"destination", "/data4"}, {"source", d}, {"type", "bind"}, {"options", {"rbind"}}});
  r = guest_config(rw);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("mounts[/data4]: more than 4 writable directory volumes"),
            std::string::npos)
      << r.error().msg;
  auto sock = base_config();  // neither a file nor a directory
  sock["mounts"].push_back(
      {{"destination", "/n"}, {"source", "/dev/null"}, {"type", "bind"}, {"options", {"rbind"}}});
  r = guest_config(sock);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("mounts[/n]: bind mount of /dev/null"), std::string::npos)
      << r.error().msg;
  auto missing = base_config();
  missing["mounts"].push_back({{"destination", "/x"}, {"source", d + "/nope"}, {"type", "bind"}});
  EXPECT_FALSE(guest_config(missing));
  (void)remove_all(d);
}

TEST(MicrovmConfig, ShapeAndHostResourcesFollowTheLimits) {
  auto c = base_config();
  auto s = shape_for(c, "tcg");
  EXPECT_EQ(s.mem_mib, 256 + kGuestOverheadMiB);  // rounded to 32 MiB already
  EXPECT_EQ(s.vcpus, std::min<long>(2, ::sysconf(_SC_NPROCESSORS_ONLN)));
  auto h = host_resources(c, s);
  EXPECT_EQ(h["memory"]["limit"], int64_t{s.mem_mib + kVmmOverheadMiB} << 20);
  EXPECT_FALSE(h.contains("pids"));
  EXPECT_EQ(h["cpu"]["quota"], 150000);
  EXPECT_EQ(shape_for(json::object(), "tcg").mem_mib, kDefaultGuestMiB);
}

}  // namespace
}  // namespace veil::runtime::microvm
