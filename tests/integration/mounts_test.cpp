// Mount configs real clients produce: every rootfsPropagation (Kubernetes sets rshared for
// Bidirectional volumes) with the propagation really holding, bind sources only host root can
// reach in a user namespace, a read-only /dev, /proc and /sys as symlinks in a hostile image, and
// the pty's owner.
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

bool wait_path(const std::string& path, int timeout_ms) {
  for (int t = 0; t < timeout_ms; t += 20) {
    if (path_exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A private copy of the busybox rootfs the test may change.
std::string own_rootfs(Bundle& b) {
  std::string r = b.dir() + "/rootfs";
  if (run({"cp", "-a", rootfs(), r}).code != 0) return "";
  b.config["root"]["path"] = r;
  b.write();
  return r;
}

TEST(Mounts, EveryRootfsPropagationStarts) {
  REQUIRE_ROOT();
  Veil v;
  for (const char* p : {"private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
                        "runbindable"}) {
    Bundle b({"/bin/sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"});
    b.config["linux"]["rootfsPropagation"] = p;
    b.write();
    std::string id = unique_id("prop");
    Cmd c = v({"run", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 0) << p << ": " << c.err;
    // The container's "/" carries what was asked: shared → a peer group, unbindable → flagged,
    // the others nothing that could flow back to the host (a private rootfs made slave stays
    // private: it has no master).
    bool shared = std::string(p).find("shared") != std::string::npos;
    bool unbindable = std::string(p).find("unbindable") != std::string::npos;
    EXPECT_EQ(c.out.find("shared:") != std::string::npos, shared) << p << ": " << c.out;
    EXPECT_EQ(c.out.find("unbindable") != std::string::npos, unbindable) << p << ": " << c.out;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
}

// Kubernetes' Bidirectional volume: a shared host mount, bind-mounted rshared, rootfsPropagation
// rshared. A mount the host makes under it shows up in the container, and one the container
// makes shows up on the host.
TEST(Mounts, RsharedPropagationHoldsBothWays) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sh", "-c",
            "i=0; while [ ! -e /tmp/vol/fromhost/marker ] && [ $i -lt 250 ]; do sleep 0.02; "
            "i=$((i+1)); done; cat /tmp/vol/fromhost/marker; mkdir -p /tmp/vol/fromcontainer && "
            "mount -t tmpfs tmpfs /tmp/vol/fromcontainer && echo inside > "
            "/tmp/vol/fromcontainer/file && "
            "exec sleep 30"});
  std::string vol = b.dir() + "/vol";
  ASSERT_EQ(::mkdir(vol.c_str(), 0755), 0);
  ASSERT_EQ(::mount(vol.c_str(), vol.c_str(), nullptr, MS_BIND, nullptr), 0);
  ASSERT_EQ(::mount(nullptr, vol.c_str(), nullptr, MS_SHARED, nullptr), 0);
  struct Unmount {
    std::string p;
    ~Unmount() {
      ::umount2((p + "/fromcontainer").c_str(), MNT_DETACH);
      ::umount2((p + "/fromhost").c_str(), MNT_DETACH);
      ::umount2(p.c_str(), MNT_DETACH);
    }
  } unmount{vol};
  b.config["mounts"].push_back({{"destination", "/tmp/vol"},
                                {"type", "bind"},
                                {"source", vol},
                                {"options", {"rbind", "rshared"}}});
  b.config["linux"]["rootfsPropagation"] = "rshared";
  for (auto set : {"bounding", "effective", "permitted"})
    b.config["process"]["capabilities"][set].push_back("CAP_SYS_ADMIN");
  b.write();
  std::string id = unique_id("rshared");
  Cmd c = v({"run", "-d", "--bundle", b.dir(), id});
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_EQ(::mkdir((vol + "/fromhost").c_str(), 0755), 0);
  ASSERT_EQ(::mount("tmpfs", (vol + "/fromhost").c_str(), "tmpfs", 0, nullptr), 0);
  ASSERT_TRUE(write_file_atomic(vol + "/fromhost/marker", "from the host\n"));
  EXPECT_TRUE(wait_path(vol + "/fromcontainer/file", 8000))
      << "the container's mount did not reach the host";
  EXPECT_EQ(read_file(vol + "/fromcontainer/file").value_or(""), "inside\n");
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

// A volume under a directory only host root may enter (0700), with the container's root mapped
// to an unprivileged host uid: the source is opened before the user namespace exists.
TEST(Mounts, BindSourcesOnlyHostRootCanReachMountInAUserNamespace) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/cat", "/tmp/vol/data"});
  std::string locked = b.dir() + "/locked";
  ASSERT_EQ(::mkdir(locked.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((locked + "/vol").c_str(), 0755), 0);
  ASSERT_TRUE(write_file_atomic(locked + "/vol/data", "volume content\n", 0644));
  ASSERT_TRUE(write_file_atomic(locked + "/file", "single file\n", 0644));
  b.config["mounts"].push_back({{"destination", "/tmp/vol"},
                                {"type", "bind"},
                                {"source", locked + "/vol"},
                                {"options", {"rbind", "ro"}}});
  b.config["mounts"].push_back({{"destination", "/tmp/file"},
                                {"type", "bind"},
                                {"source", locked + "/file"},
                                {"options", {"bind"}}});
  b.config["process"]["args"] = {"/bin/cat", "/tmp/vol/data", "/tmp/file"};
  b.config["linux"]["namespaces"].push_back({{"type", "user"}});
  b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  b.write();
  std::string id = unique_id("usernsbind");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "volume content\nsingle file\n");
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Mounts, AReadOnlyDevStillGetsItsNodesAndPts) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sh", "-c",
            "test -c /dev/null && test -d /dev/pts && test -c /dev/pts/ptmx && echo ok; "
            "touch /dev/new 2>/dev/null && echo writable; grep ' /dev ' /proc/self/mountinfo"});
  for (auto& m : b.config["mounts"])
    if (m["destination"] == "/dev") m["options"].push_back("ro");
  b.write();
  std::string id = unique_id("rodev");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("ok\n"), std::string::npos) << c.out << c.err;
  EXPECT_EQ(c.out.find("writable"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(" ro,"), std::string::npos) << c.out;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Mounts, ProcOrSysAsASymlinkInTheImageIsRefused) {
  REQUIRE_ROOT();
  Veil v;
  for (const char* dir : {"proc", "sys"}) {
    Bundle b({"/bin/true"});
    std::string r = own_rootfs(b);
    ASSERT_FALSE(r.empty());
    std::string p = r + "/" + dir;
    ASSERT_EQ(run({"rm", "-rf", p}).code, 0);
    ASSERT_EQ(::symlink("/tmp", p.c_str()), 0);
    std::string id = unique_id("symproc");
    Cmd c = v({"run", "--bundle", b.dir(), id});
    EXPECT_NE(c.code, 0) << dir;
    EXPECT_NE(c.err.find("must be mounted on an ordinary directory"), std::string::npos) << c.err;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
}

// listmount(2)/statmount(2) (Linux 6.8+), declared here: the distribution's headers predate them.
struct MntIdReq {
  uint32_t size, spare;
  uint64_t mnt_id, param, mnt_ns_id;
};
constexpr uint64_t kListRoot = ~0ULL;
constexpr uint64_t kStatSbBasic = 0x1;
constexpr long kSysStatmount = 457, kSysListmount = 458;
constexpr unsigned long kNsGetMntnsId = _IOR(0xb7, 0x5, uint64_t);

// Device numbers of the superblocks of every mount in the mount namespace of pid, including those
// no path inside it reaches; empty when the kernel cannot list them.
std::vector<dev_t> mount_devices(int pid) {
  std::vector<dev_t> out;
  Fd ns(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  uint64_t ns_id = 0;
  if (!ns || ::ioctl(ns.get(), kNsGetMntnsId, &ns_id) != 0) return out;
  MntIdReq req{sizeof(MntIdReq), 0, kListRoot, 0, ns_id};
  std::vector<uint64_t> ids(4096);
  long n = ::syscall(kSysListmount, &req, ids.data(), ids.size(), 0);
  for (long i = 0; i < n; ++i) {
    MntIdReq sreq{sizeof(MntIdReq), 0, ids[i], kStatSbBasic, ns_id};
    alignas(8) unsigned char buf[4096] = {};
    if (::syscall(kSysStatmount, &sreq, buf, sizeof buf, 0) != 0) continue;
    uint32_t major = 0, minor = 0;
    std::memcpy(&major, buf + 16, 4);  // struct statmount: size, mnt_opts, mask, sb_dev_major
    std::memcpy(&minor, buf + 20, 4);
    out.push_back(makedev(major, minor));
  }
  return out;
}

// --no-pivot keeps the old root under the chroot: the host's full /proc must be gone from the
// namespace (listed with listmount/statmount, which also see what no path reaches).
TEST(Mounts, NoPivotLeavesNoHostProcInTheNamespace) {
  REQUIRE_ROOT();
  struct stat host_proc;
  ASSERT_EQ(::stat("/proc", &host_proc), 0);
  Bundle b({"/bin/sleep", "10"});
  Veil v;
  std::string id = unique_id("nopivotproc");
  ASSERT_EQ(v({"run", "--detach", "--no-pivot", "--bundle", b.dir(), id}).code, 0);
  auto st = v.state(id);
  ASSERT_TRUE(st.is_object());
  int pid = st["pid"];
  auto devs = mount_devices(pid);
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  if (devs.empty()) GTEST_SKIP() << "listmount/statmount not available";
  // The container's own /proc is a new superblock; the host's must be gone from the namespace,
  // else a chroot escape or a proc mount check finds the host's full /proc.
  for (dev_t d : devs) EXPECT_NE(d, host_proc.st_dev) << "host /proc still mounted";
}

// The pty belongs to the process's user and to the tty group (devpts gid=5), as with runc.
TEST(Mounts, ThePtyBelongsToTheUserAndTheTtyGroup) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sh", "-c", "stat -c %u:%g $(tty)"});
  b.config["process"]["terminal"] = true;
  b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  b.write();
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("ptyown")});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("1000:5"), std::string::npos) << c.out;
  Bundle r({"/bin/sleep", "30"});
  std::string id = unique_id("ptyexec");
  ASSERT_EQ(v({"run", "-d", "--bundle", r.dir(), id}).code, 0);
  Cmd e = v({"exec", "-t", "--user", "1000:1000", id, "/bin/sh", "-c", "stat -c %u:%g $(tty)"});
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("1000:5"), std::string::npos) << e.out;
  v({"delete", "--force", id});
}

}  // namespace
}  // namespace veil::test
