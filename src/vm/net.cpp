#include "vm/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/subprocess.hpp"

namespace veil::vm {

nlohmann::json NicConfig::to_json() const {
  return {
      {"mac", mac}, {"address", address}, {"prefix", prefix}, {"gateway", gateway}, {"mtu", mtu}};
}

namespace {

Result<> tc(const std::vector<std::string>& args) {
  std::vector<std::string> argv{path_exists("/usr/sbin/tc") ? "/usr/sbin/tc" : "/sbin/tc"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = VEIL_TRY(run_capture(argv));
  if (r.status != 0) return fail("tc " + join(args, " ") + ": " + r.err);
  return {};
}

std::string default_gateway(const std::string& ifname) {
  // /proc/net/route: Iface Destination Gateway Flags … (hex, little-endian), of this namespace.
  auto t = read_file("/proc/self/net/route");
  if (!t) return "";
  for (const auto& line : split(*t, '\n')) {
    auto f = split_words(line);
    if (f.size() < 3 || f[0] != ifname || f[1] != "00000000") continue;
    uint32_t gw = static_cast<uint32_t>(std::strtoul(f[2].c_str(), nullptr, 16));
    char buf[INET_ADDRSTRLEN];
    struct in_addr a {
      gw
    };
    return ::inet_ntop(AF_INET, &a, buf, sizeof buf) ? buf : "";
  }
  return "";
}

}  // namespace

Result<> enter_netns(const std::string& netns_path) {
  Fd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return fail_errno("network namespace " + netns_path);
  if (::setns(ns.get(), CLONE_NEWNET) != 0)
    return fail_errno("join network namespace " + netns_path);
  return {};
}

Result<Fd> plumb_netns(const std::string& netns_path, NicConfig* nic) {
  // A path that names the host's namespace (e.g. /proc/<pid>/ns/net of a process that never left
  // it): taking "its first interface" would redirect the host's traffic into the VM.
  struct stat target, st;
  if (::stat(netns_path.c_str(), &target) != 0)
    return fail_errno("network namespace " + netns_path);
  for (const char* host : {"/proc/1/ns/net", "/proc/self/ns/net"})
    if (::stat(host, &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino)
      return fail("network namespace " + netns_path + " is the host's own (" + host +
                  "): its interfaces are not handed to a microVM");
  VEIL_CHECK(enter_netns(netns_path));
  struct ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return fail_errno("getifaddrs");
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (!nic->ifname.empty() && nic->ifname != i->ifa_name) continue;
    if (i->ifa_addr->sa_family == AF_PACKET) {
      nic->ifname = i->ifa_name;
      auto* ll = reinterpret_cast<sockaddr_ll*>(i->ifa_addr);
      if (ll->sll_halen == 6)
        nic->mac = strprintf("%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0], ll->sll_addr[1],
                             ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4], ll->sll_addr[5]);
    }
  }
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || nic->ifname != i->ifa_name || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    nic->address = buf;
    uint32_t mask = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
    nic->prefix = __builtin_popcount(mask);
    break;
  }
  ::freeifaddrs(ifs);
  if (nic->ifname.empty() || nic->mac.empty())
    return fail("network namespace " + netns_path + ": no interface besides loopback");
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, nic->ifname.c_str(), IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFMTU, &ifr) == 0) nic->mtu = ifr.ifr_mtu;
  nic->gateway = default_gateway(nic->ifname);

  // Another microVM holds this namespace's interface already (its redirection is in place).
  if (auto q = run_capture({path_exists("/usr/sbin/tc") ? "/usr/sbin/tc" : "/sbin/tc", "qdisc",
                            "show", "dev", nic->ifname, "ingress"});
      q && q->out.find("ingress") != std::string::npos)
    return fail("network namespace " + netns_path + ": its interface " + nic->ifname +
                " is already joined to another microVM (one VM per pod needs a shim v2)");
  Fd tap(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!tap) return fail_errno("open /dev/net/tun");
  struct ifreq t {};
  t.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::strncpy(t.ifr_name, "veiltap0", IFNAMSIZ - 1);
  if (::ioctl(tap.get(), TUNSETIFF, &t) != 0) return fail_errno("create tap in " + netns_path);
  nic->tap = t.ifr_name;
  struct ifreq u {};
  std::strncpy(u.ifr_name, nic->tap.c_str(), IFNAMSIZ - 1);
  u.ifr_mtu = nic->mtu;
  (void)::ioctl(sock.get(), SIOCSIFMTU, &u);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &u) != 0) return fail_errno("tap flags");
  u.ifr_flags |= IFF_UP;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &u) != 0) return fail_errno("bring the tap up");
  auto redirect = [&]() -> Result<> {
    for (auto [from, to] : {std::pair{nic->ifname, nic->tap}, std::pair{nic->tap, nic->ifname}}) {
      VEIL_CHECK(tc({"qdisc", "add", "dev", from, "ingress"}));
      VEIL_CHECK(
          tc({"filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match",
              "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", to}));
    }
    return {};
  };
  if (auto r = redirect(); !r) {
    unplumb(*nic);
    return std::unexpected(r.error().wrap("network namespace " + netns_path));
  }
  return tap;
}

void unplumb_in(const std::string& netns_path, const std::string& ifname) {
  Fd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return;  // the namespace is gone, and the redirection with it
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) ::_exit(1);
    NicConfig n;
    n.ifname = ifname;
    unplumb(n);
    ::_exit(0);
  }
  if (pid > 0)
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

void unplumb(const NicConfig& nic) {
  if (!nic.ifname.empty()) (void)tc({"qdisc", "del", "dev", nic.ifname, "ingress"});
}

}  // namespace veil::vm
