#include "agent/guest_boot.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/random.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "vm/frame.hpp"

namespace veil::agent {
namespace {

Result<> mnt(const char* src, const char* dst, const char* type, unsigned long flags,
             const char* data = nullptr) {
  ::mkdir(dst, 0755);
  if (::mount(src, dst, type, flags, data) != 0 && errno != EBUSY)
    return fail_errno(std::string("mount ") + type + " on " + dst);
  return {};
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

Result<> copy_file(const std::string& from, const std::string& to, mode_t mode) {
  auto data = VEIL_TRY(read_file(from));
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!out) return fail_errno("create " + to);
  if (::write(out.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
    return fail_errno("write " + to);
  ::unlink(from.c_str());  // the initramfs's copy only costs memory from now on
  return {};
}

}  // namespace

Result<> leave_initramfs() {
  VEIL_CHECK(mnt("root", "/newroot", "tmpfs", 0, "mode=0755"));
  for (const char* d : {"/newroot/dev", "/newroot/proc", "/newroot/sys", "/newroot/run",
                        "/newroot/tmp", "/newroot/lib", "/newroot/lib/modules"})
    ::mkdir(d, 0755);
  VEIL_CHECK(copy_file("/init", "/newroot/init", 0755));
  if (DIR* d = ::opendir("/lib/modules")) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      auto r = copy_file(std::string("/lib/modules/") + e->d_name,
                         std::string("/newroot/lib/modules/") + e->d_name, 0644);
      if (!r) {
        ::closedir(d);
        return r;
      }
    }
    ::closedir(d);
  }
  if (::chdir("/newroot") != 0) return fail_errno("chdir /newroot");
  if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return fail_errno("move the tmpfs to /");
  if (::chroot(".") != 0) return fail_errno("chroot");
  if (::chdir("/") != 0) return fail_errno("chdir /");
  char arg0[] = "/init", arg1[] = "stage2";
  char* argv[] = {arg0, arg1, nullptr};
  ::execv("/init", argv);
  return fail_errno("exec /init on the tmpfs root");
}

Result<> mount_basics() {
  const unsigned long common = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  VEIL_CHECK(mnt("proc", "/proc", "proc", common));
  VEIL_CHECK(mnt("sysfs", "/sys", "sysfs", common));
  VEIL_CHECK(mnt("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  VEIL_CHECK(mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666"));
  VEIL_CHECK(mnt("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  VEIL_CHECK(mnt("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  VEIL_CHECK(mnt("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  VEIL_CHECK(mnt("cgroup2", "/sys/fs/cgroup", "cgroup2", common));
  // Controllers for the containers' cgroups (veil's v2 code does the rest, as on a host).
  (void)write_file("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +memory +pids");
  return {};
}

Result<> load_modules() {
  auto order = read_file("/lib/modules/order");
  if (!order) return {};  // an initramfs without modules: everything is built in
  for (const auto& name : split(*order, '\n')) {
    if (name.empty()) continue;
    std::string path = "/lib/modules/" + name;
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) return fail_errno("module " + path);
    if (::syscall(SYS_finit_module, f.get(), "", 0) != 0 && errno != EEXIST)
      return fail_errno("load module " + name);
  }
  return {};
}

Result<Fd> open_port() {
  // The port's device node appears once virtio_console has probed it.
  for (int tries = 0; tries < 1000; ++tries) {
    if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
      std::string found;
      while (auto* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        auto name = read_file(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
        if (name && first_line(*name) == vm::kAgentPortName) found = e->d_name;
      }
      ::closedir(d);
      if (!found.empty()) {
        Fd f(::open(("/dev/" + found).c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
        if (f) return f;
      }
    }
    ::usleep(10'000);
  }
  return fail(std::string("virtio-serial port ") + vm::kAgentPortName + " did not appear");
}

Result<> refresh_identity(int64_t realtime_ns, const std::string& seed) {
  if (realtime_ns > 0) {
    struct timespec ts {
      static_cast<time_t>(realtime_ns / 1'000'000'000),
          static_cast<long>(realtime_ns % 1'000'000'000)
    };
    if (::clock_settime(CLOCK_REALTIME, &ts) != 0) return fail_errno("set the guest clock");
  }
  if (seed.empty()) return fail("hello: no entropy seed");
  Fd r(::open("/dev/urandom", O_WRONLY | O_CLOEXEC));
  if (!r) return fail_errno("open /dev/urandom");
  std::vector<char> buf(sizeof(rand_pool_info) + seed.size());
  auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
  info->entropy_count = static_cast<int>(seed.size() * 8);
  info->buf_size = static_cast<int>(seed.size());
  std::copy(seed.begin(), seed.end(), reinterpret_cast<char*>(info->buf));
  if (::ioctl(r.get(), RNDADDENTROPY, info) != 0) return fail_errno("RNDADDENTROPY");
  // Without this the per-CPU generators keep the template's state until the next scheduled reseed.
  if (::ioctl(r.get(), RNDRESEEDCRNG) != 0) return fail_errno("RNDRESEEDCRNG");
  return {};
}

namespace {

Result<> set_flags(int sock, const char* ifname, bool up) {
  struct ifreq r {};
  std::strncpy(r.ifr_name, ifname, IFNAMSIZ - 1);
  if (::ioctl(sock, SIOCGIFFLAGS, &r) != 0) return fail_errno(std::string("flags of ") + ifname);
  if (up)
    r.ifr_flags |= IFF_UP;
  else
    r.ifr_flags &= ~IFF_UP;
  if (::ioctl(sock, SIOCSIFFLAGS, &r) != 0) return fail_errno(std::string("bring up ") + ifname);
  return {};
}

Result<> set_addr(int sock, unsigned long req, const char* ifname, const std::string& dotted,
                  const char* what) {
  struct ifreq r {};
  std::strncpy(r.ifr_name, ifname, IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&r.ifr_addr);
  sin->sin_family = AF_INET;
  if (::inet_pton(AF_INET, dotted.c_str(), &sin->sin_addr) != 1)
    return fail(std::string("net: bad ") + what + " " + dotted);
  if (::ioctl(sock, req, &r) != 0) return fail_errno(std::string("set ") + what + " of " + ifname);
  return {};
}

}  // namespace

Result<> configure_network(const nlohmann::json& net) {
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return fail_errno("socket");
  VEIL_CHECK(set_flags(sock.get(), "lo", true));
  if (!net.is_object()) return {};
  const char* eth = "eth0";
  std::string mac = net.value("mac", std::string());
  if (!mac.empty()) {
    struct ifreq r {};
    std::strncpy(r.ifr_name, eth, IFNAMSIZ - 1);
    r.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    unsigned b[6];
    if (std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) !=
        6)
      return fail("net: bad mac " + mac);
    for (int i = 0; i < 6; ++i) r.ifr_hwaddr.sa_data[i] = static_cast<char>(b[i]);
    VEIL_CHECK(set_flags(sock.get(), eth, false));
    if (::ioctl(sock.get(), SIOCSIFHWADDR, &r) != 0) return fail_errno("set the MAC of eth0");
  }
  if (int mtu = net.value("mtu", 0); mtu > 0) {
    struct ifreq r {};
    std::strncpy(r.ifr_name, eth, IFNAMSIZ - 1);
    r.ifr_mtu = mtu;
    (void)::ioctl(sock.get(), SIOCSIFMTU, &r);
  }
  std::string addr = net.value("address", std::string());
  if (!addr.empty()) {
    VEIL_CHECK(set_addr(sock.get(), SIOCSIFADDR, eth, addr, "address"));
    int prefix = net.value("prefix", 24);
    uint32_t mask = prefix <= 0 ? 0 : htonl(~uint32_t{0} << (32 - prefix));
    char buf[INET_ADDRSTRLEN];
    struct in_addr m {
      mask
    };
    ::inet_ntop(AF_INET, &m, buf, sizeof buf);
    VEIL_CHECK(set_addr(sock.get(), SIOCSIFNETMASK, eth, buf, "netmask"));
  }
  VEIL_CHECK(set_flags(sock.get(), eth, true));
  std::string gw = net.value("gateway", std::string());
  if (!gw.empty()) {
    struct rtentry rt {};
    auto* dst = reinterpret_cast<sockaddr_in*>(&rt.rt_dst);
    auto* gate = reinterpret_cast<sockaddr_in*>(&rt.rt_gateway);
    auto* mask = reinterpret_cast<sockaddr_in*>(&rt.rt_genmask);
    dst->sin_family = gate->sin_family = mask->sin_family = AF_INET;
    if (::inet_pton(AF_INET, gw.c_str(), &gate->sin_addr) != 1)
      return fail("net: bad gateway " + gw);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = const_cast<char*>(eth);
    if (::ioctl(sock.get(), SIOCADDRT, &rt) != 0 && errno != EEXIST)
      return fail_errno("add the default route via " + gw);
  }
  return {};
}

namespace {
Result<> mount_erofs_overlay(const std::string& device, const std::string& target,
                             const std::string& lower, const std::string& upper) {
  {
    // A clone's page cache may still hold the template's (blank) disk, and a pod's disk slot
    // the image of the container that used it before.
    Fd d(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
    if (!d) return fail_errno("open the rootfs disk " + device);
    (void)::ioctl(d.get(), BLKFLSBUF, 0);
  }
  VEIL_CHECK(mkdir_all(lower, 0755));
  VEIL_CHECK(mkdir_all(upper, 0755));
  VEIL_CHECK(mkdir_all(target, 0755));
  VEIL_CHECK(mnt(device.c_str(), lower.c_str(), "erofs", MS_RDONLY | MS_NODEV));
  VEIL_CHECK(mnt("upper", upper.c_str(), "tmpfs", MS_NODEV, "mode=0755"));
  ::mkdir((upper + "/u").c_str(), 0755);
  ::mkdir((upper + "/w").c_str(), 0755);
  std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + "/u,workdir=" + upper + "/w";
  return mnt("overlay", target.c_str(), "overlay", MS_NODEV, opts.c_str());
}
}  // namespace

Result<> mount_rootfs(const std::string& target) {
  return mount_erofs_overlay("/dev/vda", target, "/run/veil-lower", "/run/veil-upper");
}

Result<> mount_pod_rootfs(const std::string& target, const std::string& serial,
                          const std::string& work) {
  // The slot's device: /sys/block/vd*/serial names it (the host sets serial=<slot name>).
  std::string device = serial.empty() ? "/dev/vda" : "";  // the sandbox's: the boot disk
  if (DIR* d = serial.empty() ? nullptr : ::opendir("/sys/block")) {
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (!name.starts_with("vd")) continue;
      auto s = read_file("/sys/block/" + name + "/serial");
      while (s && !s->empty() && (s->back() == '\n' || s->back() == ' ')) s->pop_back();
      if (s && *s == serial) device = "/dev/" + name;
    }
    ::closedir(d);
  }
  if (device.empty()) return fail("no disk with serial \"" + serial + "\" in the guest");
  return mount_erofs_overlay(device, target, work + "/lower", work + "/upper");
}

Result<> mount_pod_shared(const std::string& dir) {
  static bool mounted = false;  // the agent is one process: once per guest
  if (mounted) return {};
  VEIL_CHECK(mkdir_all(dir, 0755));
  VEIL_CHECK(mnt("shm", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k"));
  mounted = true;
  return {};
}

void unmount_pod_rootfs(const std::string& target, const std::string& work) {
  for (const std::string& m : {target, work + "/upper", work + "/lower"})
    ::umount2(m.c_str(), MNT_DETACH);
}

Result<> mount_volume(const std::string& dir, const std::string& tag) {
  if (!tag.starts_with("vol") || tag.size() > 8 ||
      tag.find_first_not_of("0123456789", 3) != std::string::npos)
    return fail("volume: bad tag \"" + tag + "\"");
  static bool loaded = false;
  for (const char* m : {"fuse", "virtiofs"}) {
    if (loaded) break;
    std::string path = std::string("/lib/modules/") + m + ".ko";
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) return fail_errno("module " + path);
    if (::syscall(SYS_finit_module, f.get(), "", 0) != 0 && errno != EEXIST)
      return fail_errno(std::string("load module ") + m);
  }
  loaded = true;
  VEIL_CHECK(mkdir_all(dir + "/" + tag, 0755));
  VEIL_CHECK(mnt(tag.c_str(), (dir + "/" + tag).c_str(), "virtiofs", MS_NOSUID | MS_NODEV));
  return {};
}

}  // namespace veil::agent
