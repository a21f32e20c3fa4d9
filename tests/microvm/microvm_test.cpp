// The microvm handler (docs/microvm.md), end to end through the veil binary: each test runs
// containers in QEMU microVMs (TCG here) cloned from a template, and checks what the workload
// and the host really see. Label vm-microvm; the template is built by the first test that needs
// it (about 2 s) and reused by the rest.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <iostream>
#include <thread>

#include "../integration/harness.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::test {
namespace {

using nlohmann::json;

// A bundle whose container runs in a microVM.
struct VmBundle : Bundle {
  explicit VmBundle(std::vector<std::string> args) : Bundle(std::move(args)) {
    config["annotations"]["org.veil.handler"] = "microvm";
    write();
  }
};

// QEMU processes (not zombies) whose command line mentions `needle` (a state or template
// directory).
std::vector<int> qemu_pids_with(const std::string& needle) {
  std::vector<int> pids;
  if (DIR* d = ::opendir("/proc")) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      auto cmd = read_file(std::string("/proc/") + e->d_name + "/cmdline");
      if (!cmd || cmd->find("qemu-system") == std::string::npos) continue;
      auto st = read_file(std::string("/proc/") + e->d_name + "/stat");
      if (st && st->find(") Z") != std::string::npos) continue;
      if (cmd->find(needle) != std::string::npos) pids.push_back(std::atoi(e->d_name));
    }
    ::closedir(d);
  }
  return pids;
}

// The names in dir (sorted), "." and ".." left out.
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        out.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int qemu_processes_with(const std::string& needle) {
  return static_cast<int>(qemu_pids_with(needle).size());
}

// Nothing of a microVM container left: state dir, cgroups, and no QEMU with its files (waits a
// little: QEMU dies by PDEATHSIG when its monitor does, asynchronously).
::testing::AssertionResult vm_gone(const Veil& v, const std::string& id, const Bundle& b) {
  for (int i = 0; i < 200 && qemu_processes_with(v.root() + "/" + id + "/") > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (qemu_processes_with(v.root() + "/" + id + "/") > 0)
    return ::testing::AssertionFailure() << "a QEMU of " << id << " is still running";
  return nothing_left(v, id, b);
}

// A TCP listener on the host for the guest to reach: one connection, its first line (bounded:
// 60 s for the connection, 10 s for the line).
struct HostListener {
  int fd = -1;
  int port = 0;
  std::future<std::string> line;
  explicit HostListener(const std::string& address) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1) != 0) return;
    socklen_t al = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &al);
    port = ntohs(a.sin_port);
    line = std::async(std::launch::async, [l = fd] {
      struct pollfd p {
        l, POLLIN, 0
      };
      if (::poll(&p, 1, 60'000) != 1) return std::string("no connection");
      int c = ::accept(l, nullptr, nullptr);
      std::string out = read_until(c, "\n", 10'000);
      ::close(c);
      return out;
    });
  }
  ~HostListener() {
    if (line.valid()) line.wait();
    ::close(fd);
  }
};

TEST(Microvm, RunsOnTheGuestKernelAndReturnsTheWorkloadsExitCode) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sh", "-c", "echo kernel=$(uname -r); cat /proc/cmdline; echo err >&2; exit 3"});
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(r.code, 3) << r.err;
  struct utsname u;
  ::uname(&u);
  EXPECT_NE(r.out.find("kernel=6.1.0-"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(std::string("kernel=") + u.release + "\n"), std::string::npos)
      << "the workload reports the host's kernel " << u.release;
  // The guest kernel's command line (veil's), not the host's.
  EXPECT_NE(r.out.find("cryptomgr.notests"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.err;
  EXPECT_TRUE(vm_gone(v, id, b));
}

TEST(Microvm, WorkloadSeesNeitherHostProcessesNorHostFiles) {
  REQUIRE_ROOT();
  std::string marker = "/tmp/veil-host-only-" + std::to_string(::getpid());
  ASSERT_TRUE(write_file_atomic(marker, "host secret"));
  Veil v;
  // The bundle's rootfs is the only file system from the host: a host path bind-mounted as a
  // "host root" directory is refused, and the host's /tmp is not the guest's.
  VmBundle b({"sh", "-c",
              "ls /proc | grep -c '^[0-9]'; cat " + marker +
                  " 2>&1; cat /proc/sys/kernel/random/boot_id"});
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  ::unlink(marker.c_str());
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = split(r.out, '\n');
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_LE(std::atoi(lines[0].c_str()), 4) << "processes visible in the guest:\n" << r.out;
  EXPECT_EQ(r.out.find("host secret"), std::string::npos);
  auto host_boot = read_file("/proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(host_boot);
  EXPECT_EQ(r.out.find(host_boot->substr(0, 36)), std::string::npos) << "same boot id as the host";
  EXPECT_TRUE(vm_gone(v, id, b));
}

// A kernel module loaded by the workload goes into the guest kernel; the host's is untouched.
TEST(Microvm, AModuleLoadedByTheWorkloadStaysInTheGuestKernel) {
  REQUIRE_ROOT();
  std::string ko = "/tmp/veil-dummy-" + std::to_string(::getpid()) + ".ko";
  auto x = sh("dpkg-deb --fsys-tarfile $(ls " VEIL_VM_CACHE
              "/linux-image-*.deb | tail -1) | "
              "tar -xO --wildcards './lib/modules/*/kernel/drivers/net/dummy.ko' > " +
              ko);
  ASSERT_EQ(x.code, 0) << x.err;
  bool host_had = path_exists("/sys/module/dummy");
  Veil v;
  VmBundle b({"sh", "-c", "insmod /dummy.ko && ls /sys/module | grep -x dummy && echo loaded"});
  b.config["mounts"].push_back({{"destination", "/dummy.ko"},
                                {"source", ko},
                                {"type", "bind"},
                                {"options", {"bind", "ro"}}});
  for (const char* set : {"bounding", "effective", "permitted"})
    b.config["process"]["capabilities"][set].push_back("CAP_SYS_MODULE");
  b.write();
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  ::unlink(ko.c_str());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("loaded"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(path_exists("/sys/module/dummy"), host_had);
  EXPECT_NE(sh("ip link show dummy0").code, 0) << "dummy0 appeared on the host";
  EXPECT_TRUE(vm_gone(v, id, b));
}

// Kubernetes' shape: read-only directory binds (a service-account token, a configmap) and file
// binds reach the guest as copies made at create.
TEST(Microvm, ReadOnlyDirectoriesAndFilesAreCopiedIntoTheGuest) {
  REQUIRE_ROOT();
  std::string d = "/tmp/veil-vol-" + std::to_string(::getpid());
  ASSERT_EQ(sh("mkdir -p " + d + "/sub && echo token > " + d + "/token && echo deep > " + d +
               "/sub/deep && ln -s token " + d + "/link && echo single > " + d + ".file")
                .code,
            0);
  Veil v;
  VmBundle b({"sh", "-c",
              "cat /var/run/secrets/token /var/run/secrets/sub/deep /var/run/secrets/link "
              "/etc/single; readlink /var/run/secrets/link; touch /var/run/secrets/x 2>&1 || "
              "echo read-only"});
  b.config["mounts"].push_back({{"destination", "/var/run/secrets"},
                                {"source", d},
                                {"type", "bind"},
                                {"options", {"rbind", "ro"}}});
  b.config["mounts"].push_back({{"destination", "/etc/single"},
                                {"source", d + ".file"},
                                {"type", "bind"},
                                {"options", {"bind"}}});
  b.write();
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  sh("rm -rf " + d + " " + d + ".file");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("token\ndeep\ntoken\nsingle\ntoken\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read-only"), std::string::npos) << r.out;
  EXPECT_TRUE(vm_gone(v, id, b));
}

// A writable directory volume (a Kubernetes emptyDir or hostPath, a Podman -v): shared with the
// host over virtio-fs both ways, while a read-only one next to it is still a copy. virtio-fs
// cannot be in a snapshot: the sandbox boots cold, and its virtiofsd goes with it.
TEST(Microvm, AWritableVolumeIsSharedWithTheHostBothWays) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sh", "-c",
              "cat /data/from-host; echo guest data > /data/from-guest; mkdir /data/made; "
              "echo late > /data/late-host 2>/dev/null; sleep 1; cat /data/later 2>&1; "
              "echo ro > /conf/x 2>/dev/null || echo ro-refused"});
  std::string vol = b.dir() + "/volume", conf = b.dir() + "/conf";
  ASSERT_TRUE(mkdir_all(vol, 0777));
  ASSERT_TRUE(mkdir_all(conf, 0755));
  ASSERT_TRUE(write_file_atomic(vol + "/from-host", "host data\n"));
  b.config["mounts"].push_back(
      {{"destination", "/data"}, {"source", vol}, {"type", "bind"}, {"options", {"rbind", "rw"}}});
  b.config["mounts"].push_back(
      {{"destination", "/conf"}, {"source", conf}, {"type", "bind"}, {"options", {"rbind", "ro"}}});
  b.write();
  std::string id = unique_id("vm");
  // The host writes while the workload runs: the guest sees it (no copy at create).
  std::thread host([&] {
    for (int i = 0; i < 200 && !path_exists(vol + "/from-guest"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    (void)write_file_atomic(vol + "/later", "written by the host later\n");
  });
  auto r = v({"run", "--bundle", b.dir(), id});
  host.join();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("host data\n"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("written by the host later\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ro-refused"), std::string::npos) << r.out;
  auto back = read_file(vol + "/from-guest");
  EXPECT_TRUE(back && *back == "guest data\n") << "the guest's write did not reach the host";
  EXPECT_TRUE(path_exists(vol + "/made"));
  EXPECT_TRUE(vm_gone(v, id, b));
  EXPECT_EQ(sh("pgrep -f '[v]irtiofsd.*" + vol + "' || true").out, "") << "a virtiofsd is left";
}

// The rootfs image is built once per tree (vm/image_cache.hpp): a second sandbox of the same
// rootfs uses the cached image; a changed file makes a new one (its content is what the guest
// sees); over the cache's cap the least recently used image goes.
TEST(Microvm, TheRootfsImageIsCachedUntilTheTreeChanges) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"cat", "/etc/motd"});
  std::string root = b.dir() + "/root", cache = b.dir() + "/images";
  ASSERT_EQ(sh("cp -a " + rootfs() + " " + root).code, 0);
  ASSERT_TRUE(write_file_atomic(root + "/etc/motd", "first\n"));
  b.config["root"]["path"] = root;
  b.write();
  auto run_once = [&](const std::string& cap) {
    std::string id = unique_id("vm");
    auto r = run({"env", "VEIL_VM_IMAGES=" + cache, "VEIL_VM_IMAGE_CACHE_MIB=" + cap, VEIL_BINARY,
                  "--root", v.root(), "run", "--bundle", b.dir(), id});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(vm_gone(v, id, b));
    return r.out;
  };
  EXPECT_EQ(run_once("1024"), "first\n");
  auto entries = names_in(cache);
  ASSERT_EQ(entries.size(), 1u) << json(entries).dump();
  struct stat first {};
  ASSERT_EQ(::stat((cache + "/" + entries[0] + "/rootfs.img").c_str(), &first), 0);
  EXPECT_EQ(run_once("1024"), "first\n");
  struct stat again {};
  ASSERT_EQ(::stat((cache + "/" + entries[0] + "/rootfs.img").c_str(), &again), 0);
  EXPECT_EQ(again.st_ino, first.st_ino) << "the same tree was built again";
  // A file written again (same size, so only its times say so) is a new tree.
  ASSERT_TRUE(write_file_atomic(root + "/etc/motd", "again\n"));
  EXPECT_EQ(run_once("1024"), "again\n");
  EXPECT_EQ(names_in(cache).size(), 2u);
  // Over the cap (0 MiB): everything but the image just used goes.
  ASSERT_TRUE(write_file_atomic(root + "/etc/motd", "third\n"));
  EXPECT_EQ(run_once("0"), "third\n");
  EXPECT_EQ(names_in(cache).size(), 1u) << json(names_in(cache)).dump();
}

// process.terminal: the guest's pty, relayed through a host pty whose master goes to `run` or to
// --console-socket; its size follows the host side.
TEST(Microvm, TerminalThroughRunAndConsoleSocketWithResize) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sh", "-c", "tty; test -t 0 && test -t 1 && echo is-a-tty; stty size"});
  b.config["process"]["terminal"] = true;
  b.config["process"]["consoleSize"] = {{"height", 33}, {"width", 101}};
  b.write();
  auto r = v({"run", "--bundle", b.dir(), unique_id("vm")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is-a-tty"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("33 101"), std::string::npos) << r.out;

  VmBundle c({"sh", "-c", "read line; stty size; echo got:$line; exit 4"});
  c.config["process"]["terminal"] = true;
  c.write();
  std::string path = c.dir() + "/console.sock";
  Fd listener(listen_unix(path));
  ASSERT_TRUE(listener) << path;
  int master = -1;
  std::string name;
  std::thread t([&] { master = receive_fd(listener.get(), &name); });
  std::string id = unique_id("vm");
  auto cr = v({"create", "--console-socket", path, "--bundle", c.dir(), id});
  t.join();
  ASSERT_EQ(cr.code, 0) << cr.err;
  ASSERT_GE(master, 0);
  ASSERT_EQ(v({"start", id}).code, 0);
  struct winsize ws {};
  ws.ws_row = 40;
  ws.ws_col = 120;
  ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &ws), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::write(master, "hello\n", 6), 6);
  std::string out = read_until(master, "got:hello");
  ::close(master);
  EXPECT_NE(out.find("40 120"), std::string::npos) << out;
  EXPECT_NE(out.find("got:hello"), std::string::npos) << out;
  EXPECT_TRUE(wait_status(v, id, "stopped", 10'000));
  EXPECT_EQ(v({"delete", id}).code, 0);
  EXPECT_TRUE(vm_gone(v, id, c));
}

TEST(Microvm, ExecRelaysStdinStdoutStderrAndExitCodes) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sleep", "60"});
  std::string id = unique_id("vm");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  auto e = v({"exec", id, "sh", "-c", "echo out; echo err >&2; exit 5"});
  EXPECT_EQ(e.code, 5);
  EXPECT_EQ(e.out, "out\n");
  EXPECT_EQ(e.err, "err\n");
  auto c = v({"exec", id, "sh", "-c", "cat; echo done"}, "from stdin\n");
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "from stdin\ndone\n");
  // The exec'd process shares the container's pid namespace: it sees the workload.
  auto ps = v({"exec", id, "ps"});
  EXPECT_NE(ps.out.find("sleep 60"), std::string::npos) << ps.out;
  // A terminal: foreground (the guest's veil relays its pty), and detached with a console socket
  // (containerd's shim), through a host pty.
  auto t = v({"exec", "--tty", id, "sh", "-c", "tty; test -t 1 && echo tty-ok"});
  EXPECT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("/dev/pts/"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("tty-ok"), std::string::npos) << t.out;
  std::string path = b.dir() + "/exec-console.sock";
  Fd listener(listen_unix(path));
  ASSERT_TRUE(listener) << path;
  int master = -1;
  std::string name;
  std::thread rt([&] { master = receive_fd(listener.get(), &name); });
  auto d = v({"exec", "--tty", "--detach", "--console-socket", path, id, "sh", "-c",
              "read l; echo got:$l"});
  rt.join();
  ASSERT_EQ(d.code, 0) << d.err;
  ASSERT_GE(master, 0);
  ASSERT_EQ(::write(master, "hi\n", 3), 3);
  EXPECT_NE(read_until(master, "got:hi").find("got:hi"), std::string::npos);
  ::close(master);
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(vm_gone(v, id, b));
}

// containerd's 64-hex ids under a configured runtime Root: the monitor's exec socket path is
// longer than a unix socket address holds; exec still reaches it.
TEST(Microvm, ExecWorksWhenTheStatePathIsLongerThanASocketAddress) {
  REQUIRE_ROOT();
  VmBundle b({"sleep", "60"});
  std::string root = b.dir() + "/" + std::string(60, 'r');
  std::string id = std::string(56, 'a') + unique_id("").substr(0, 8);
  ASSERT_GT((root + "/" + id + "/vm/exec.sock").size(), 107u);
  auto veil = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {VEIL_BINARY, "--root", root});
    return run(args);
  };
  ASSERT_EQ(veil({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  auto e = veil({"exec", id, "echo", "reached"});
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out, "reached\n");
  EXPECT_EQ(veil({"delete", "--force", id}).code, 0);
}

// A network namespace path that names the host's own namespace (what /proc/<pid>/ns/net of a
// process that never left it gives, e.g. a pod's sandbox pid): refused, and no host interface is
// touched — taking its first interface would redirect the host's traffic into the VM.
TEST(Microvm, TheHostsNetworkNamespaceIsNeverHandedToAVm) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"true"});
  auto ingress = [] { return sh("tc qdisc show | grep -c ingress || true").out; };
  std::string before = ingress();
  // The test's own namespace is the host's, as is veil's (/proc/self: the monitor's).
  for (const std::string& path :
       {std::string("/proc/self/ns/net"), "/proc/" + std::to_string(::getpid()) + "/ns/net"}) {
    for (auto& ns : b.config["linux"]["namespaces"])
      if (ns["type"] == "network") ns["path"] = path;
    b.write();
    std::string id = unique_id("vm");
    auto r = v({"run", "--bundle", b.dir(), id});
    EXPECT_NE(r.code, 0) << path;
    EXPECT_NE(r.err.find("is the host's own"), std::string::npos) << r.err;
    EXPECT_TRUE(vm_gone(v, id, b));
  }
  EXPECT_EQ(ingress(), before) << "an ingress qdisc appeared on a host interface";
}

TEST(Microvm, SignalsReachTheWorkloadAndItsExitStatusComesBack) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo up; while :; do sleep 1; done"});
  std::string id = unique_id("vm");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  EXPECT_EQ(v.state(id).value("status", ""), "created");
  int monitor = v.state(id).value("pid", 0);
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(v({"start", id}).code, 0);
  EXPECT_TRUE(wait_status(v, id, "running"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(v({"kill", id, "TERM"}).code, 0);
  EXPECT_TRUE(wait_status(v, id, "stopped", 10'000));
  EXPECT_EQ(v({"delete", id}).code, 0);
  EXPECT_TRUE(vm_gone(v, id, b));

  // SIGKILL cannot be relayed: it ends the monitor, whose QEMU dies with it, and `run` (like a
  // shim waiting for the container's pid) reports 137, as for a container killed on this kernel.
  // (Other signals the workload does not handle are ignored by it as a pid-namespace init, here
  // as with runc.)
  VmBundle k({"sleep", "60"});
  std::string id2 = unique_id("vm");
  auto running = std::async(std::launch::async, [&] {
    return v({"run", "--bundle", k.dir(), id2});
  });
  ASSERT_TRUE(wait_status(v, id2, "running", 20'000));
  ASSERT_EQ(v({"kill", id2, "KILL"}).code, 0);
  EXPECT_EQ(running.get().code, 128 + SIGKILL);
  EXPECT_TRUE(vm_gone(v, id2, k));
}

TEST(Microvm, PauseFreezesTheWholeVmAndResumeContinuesIt) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sleep", "60"});
  std::string id = unique_id("vm");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  ASSERT_EQ(v({"pause", id}).code, 0);
  EXPECT_EQ(v.state(id).value("status", ""), "paused");
  // Frozen: QEMU is in the container's cgroup with the monitor (ps lists both).
  auto ps = v({"ps", "--format", "json", id});
  EXPECT_GE(json::parse(ps.out, nullptr, false).size(), 2u) << ps.out;
  ASSERT_EQ(v({"resume", id}).code, 0);
  auto e = v({"exec", id, "echo", "alive"});
  EXPECT_EQ(e.out, "alive\n") << e.err;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(vm_gone(v, id, b));
}

TEST(Microvm, MemoryAndPidsLimitsHoldInsideTheGuest) {
  REQUIRE_ROOT();
  Veil v;
  // 32 MiB for the workload (the guest has 128): a 64 MiB buffer is OOM-killed by the guest
  // kernel (exit 137), and the VM (and the host) go on.
  VmBundle b({"sh", "-c",
              "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /proc/self/cgroup; "
              "dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?"});
  b.config["linux"]["resources"]["memory"] = {{"limit", 32 << 20}};
  b.write();
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(std::to_string(32 << 20)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dd=137"), std::string::npos) << r.out << r.err;
  EXPECT_TRUE(vm_gone(v, id, b));

  VmBundle p({"sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait; echo end"});
  p.config["linux"]["resources"]["pids"] = {{"limit", 4}};
  p.write();
  std::string id2 = unique_id("vm");
  auto r2 = v({"run", "--bundle", p.dir(), id2});
  EXPECT_NE((r2.out + r2.err).find("can't fork"), std::string::npos) << r2.out << r2.err;
  EXPECT_TRUE(vm_gone(v, id2, p));
}

TEST(Microvm, UpdateChangesTheLimitInsideTheGuestAndLeavesTheVmsMemory) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sleep", "60"});
  b.config["linux"]["resources"]["memory"] = {{"limit", 64 << 20}};
  b.write();
  std::string id = unique_id("vm");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  auto before = v({"exec", id, "cat", "/sys/fs/cgroup/memory.max"});
  EXPECT_EQ(before.out, std::to_string(64 << 20) + "\n") << before.err;
  auto u = v({"update", "--memory", std::to_string(40 << 20), id});
  ASSERT_EQ(u.code, 0) << u.err;
  auto after = v({"exec", id, "cat", "/sys/fs/cgroup/memory.max"});
  EXPECT_EQ(after.out, std::to_string(40 << 20) + "\n") << after.err;
  // The host cgroup still holds the VM's RAM plus QEMU's overhead, not the workload's limit.
  auto host = sh("cat /sys/fs/cgroup/memory/veil/" + id +
                 "/memory.limit_in_bytes 2>/dev/null || "
                 "cat /sys/fs/cgroup/veil/" +
                 id + "/memory.max");
  EXPECT_GT(std::atoll(host.out.c_str()), int64_t{128} << 20) << host.out;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(vm_gone(v, id, b));
}

TEST(Microvm, TwoClonesNeverShareRandomValuesAndBothGetTheHostsClock) {
  REQUIRE_ROOT();
  Veil v;
  // Started together (in parallel: one core each), both from the same template.
  const char* script =
      "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; cat "
      "/proc/sys/kernel/random/uuid; "
      "date +%s";
  VmBundle a({"sh", "-c", script}), b({"sh", "-c", script});
  std::string ia = unique_id("vma"), ib = unique_id("vmb");
  auto fa = std::async(std::launch::async, [&] { return v({"run", "--bundle", a.dir(), ia}); });
  auto fb = std::async(std::launch::async, [&] { return v({"run", "--bundle", b.dir(), ib}); });
  auto ra = fa.get(), rb = fb.get();
  ASSERT_EQ(ra.code, 0) << ra.err;
  ASSERT_EQ(rb.code, 0) << rb.err;
  auto la = split(ra.out, '\n'), lb = split(rb.out, '\n');
  ASSERT_GE(la.size(), 3u);
  ASSERT_GE(lb.size(), 3u);
  EXPECT_EQ(la[0].size(), 32u);
  EXPECT_NE(la[0], lb[0]) << "two clones read the same bytes from /dev/urandom";
  EXPECT_NE(la[1], lb[1]) << "two clones generated the same uuid";
  long now = static_cast<long>(::time(nullptr));
  EXPECT_LE(std::labs(std::atol(la[2].c_str()) - now), 30) << "guest clock " << la[2];
  EXPECT_LE(std::labs(std::atol(lb[2].c_str()) - now), 30) << "guest clock " << lb[2];
  EXPECT_TRUE(vm_gone(v, ia, a));
  EXPECT_TRUE(vm_gone(v, ib, b));
}

TEST(Microvm, DeleteForceAfterSigkillOfTheMonitorLeavesNothing) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sleep", "60"});
  std::string id = unique_id("vm");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  int monitor = v.state(id).value("pid", 0);
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(qemu_processes_with(v.root() + "/" + id + "/"), 1);
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  EXPECT_TRUE(wait_status(v, id, "stopped"));
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(vm_gone(v, id, b));
}

// The pid of the one QEMU whose command line mentions `needle`, or 0.
int qemu_pid_with(const std::string& needle) {
  auto pids = qemu_pids_with(needle);
  return pids.empty() ? 0 : pids.back();
}

std::string status_field(int pid, const std::string& key) {
  auto s = read_file("/proc/" + std::to_string(pid) + "/status");
  if (!s) return "";
  auto k = s->find("\n" + key + ":");
  if (k == std::string::npos) return "";
  auto v = s->find_first_not_of(" \t", k + key.size() + 2);
  return s->substr(v, s->find('\n', v) - v);
}

// What a guest that took over its VMM would hold: a QEMU under a uid of its own with no
// capabilities, no_new_privs and its seccomp filter, in its own namespaces, whose root holds /usr
// and this machine's own files.
TEST(Microvm, TheVmmRunsJailedWithoutCapabilities) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"sleep", "60"});
  std::string id = unique_id("vm"), other = unique_id("vm");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), other}).code, 0);
  int q = qemu_pid_with(v.root() + "/" + id + "/");
  ASSERT_GT(q, 0);
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
    EXPECT_EQ(status_field(q, cap), "0000000000000000") << cap;
  EXPECT_EQ(status_field(q, "NoNewPrivs"), "1");
  // Its own uid (no other VMM has it), the VMMs' group; nothing of root's.
  int other_q = qemu_pid_with(v.root() + "/" + other + "/");
  ASSERT_GT(other_q, 0);
  std::string uid = status_field(q, "Uid"), other_uid = status_field(other_q, "Uid");
  unsigned long u = std::stoul(uid);
  EXPECT_GE(u, 0x40000000ul) << uid;
  EXPECT_EQ(uid, strprintf("%lu\t%lu\t%lu\t%lu", u, u, u, u));
  EXPECT_NE(uid, other_uid) << "two VMMs share a uid";
  EXPECT_EQ(status_field(q, "Gid"), "1073741824\t1073741824\t1073741824\t1073741824");
  EXPECT_EQ(status_field(q, "Seccomp"), "2");
  std::string qp = "/proc/" + std::to_string(q);
  for (const char* ns : {"mnt", "net", "ipc", "uts"})
    EXPECT_NE(read_link(qp + "/ns/" + ns), read_link(std::string("/proc/self/ns/") + ns)) << ns;
  // Its whole file system: the system's programs and libraries, ld.so's cache, four device
  // nodes, and under the state root only this sandbox's disk and RAM file.
  std::string root = qp + "/root";
  std::string state_top = v.root().substr(1, v.root().find('/', 1) - 1);
  for (const auto& n : names_in(root))
    EXPECT_TRUE(n == "usr" || n == "etc" || n == "dev" || n == "bin" || n == "sbin" ||
                n.starts_with("lib") || n == state_top)
        << "the VMM can see /" << n;
  EXPECT_EQ(names_in(root + "/etc"), std::vector<std::string>{"ld.so.cache"});
  EXPECT_EQ(names_in(root + "/dev").size(), 5u) << json(names_in(root + "/dev")).dump();  // + shm
  EXPECT_FALSE(path_exists(root + "/proc/1"));
  EXPECT_FALSE(path_exists(root + b.dir()));
  EXPECT_FALSE(path_exists(root + v.root())) << "the VMM sees the state root";
  // Its disk: the one cached image of this rootfs (vm/image_cache.hpp), nothing else of the cache.
  auto images = names_in(root + "/dev/shm/veil-vm/images");
  ASSERT_EQ(images.size(), 1u) << json(images).dump();
  std::string disk = "/dev/shm/veil-vm/images/" + images[0] + "/rootfs.img";
  EXPECT_EQ(names_in(root + "/dev/shm/veil-vm/images/" + images[0]),
            std::vector<std::string>{"rootfs.img"});
  // Read-only everywhere but the RAM file: a VMM that writes its disk or the system fails.
  EXPECT_NE(sh("nsenter -t " + std::to_string(q) + " -m sh -c 'echo x >> " + disk + "' 2>&1").code,
            0);
  EXPECT_EQ(v({"kill", id, "KILL"}).code, 0);
  EXPECT_EQ(v({"kill", other, "KILL"}).code, 0);
  EXPECT_TRUE(wait_status(v, id, "stopped"));
  EXPECT_TRUE(wait_status(v, other, "stopped"));
  EXPECT_EQ(v({"delete", id}).code, 0);
  EXPECT_EQ(v({"delete", other}).code, 0);
  // A cold boot (kernel and initramfs bound into the jail) works the same way.
  VmBundle c({"echo", "cold boot"});
  std::string cid = unique_id("vm");
  auto r = run({"env", "VEIL_VM_TEMPLATE=off", VEIL_BINARY, "--root", v.root(), "run", "--bundle",
                c.dir(), cid});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "cold boot\n") << r.err;
  EXPECT_TRUE(vm_gone(v, cid, c));
}

TEST(Microvm, BadInputIsRefusedWithAClearErrorAndLeavesNothing) {
  REQUIRE_ROOT();
  Veil v;
  VmBundle b({"true"});
  auto expect_refused = [&](const std::vector<std::string>& env, const std::string& want) {
    std::string id = unique_id("vm");
    std::vector<std::string> argv{"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {VEIL_BINARY, "--root", v.root(), "run", "--bundle", b.dir(), id});
    auto r = run(argv);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_TRUE(vm_gone(v, id, b));
  };
  // No guest kernel.
  expect_refused({"VEIL_VM_ASSETS=/nonexistent"}, "VEIL_VM_ASSETS");
  // A broken template: its saved state is garbage.
  std::string tdir = "/tmp/veil-vm-broken-" + std::to_string(::getpid());
  ASSERT_EQ(run({"env", "VEIL_VM_TEMPLATES=" + tdir, VEIL_BINARY, "--root", v.root(), "run",
                 "--bundle", b.dir(), unique_id("vm")})
                .code,
            0);
  ASSERT_EQ(sh("for s in " + tdir + "/*/state; do head -c 4096 /dev/urandom > $s; done").code, 0);
  expect_refused({"VEIL_VM_TEMPLATES=" + tdir}, "restoring the template");
  EXPECT_EQ(qemu_processes_with(tdir), 0);
  (void)remove_all(tdir);
  // An accelerator asked for that this host cannot give (KVM is not usable here: see HOST.md;
  // on a host where it is, only the unknown name is refused).
  auto check = nlohmann::json::parse(run({VEIL_BINARY, "check", "--json"}).out, nullptr, false);
  if (check.is_object() && check["microvm"].value("accelerator", "") != "kvm")
    expect_refused({"VEIL_VM_ACCEL=kvm"}, "VEIL_VM_ACCEL=kvm: KVM is not usable here");
  else
    std::cout
        << "[ NOTE     ] KVM is usable here: the refusal of VEIL_VM_ACCEL=kvm is not tested\n";
  expect_refused({"VEIL_VM_ACCEL=hvf"}, "VEIL_VM_ACCEL=hvf: unknown accelerator");
  // A rootfs that cannot fit the template's 1 GiB disk (a sparse file: nothing is written).
  {
    VmBundle big({"true"});
    std::string root = big.dir() + "/bigroot";
    ASSERT_TRUE(mkdir_all(root));
    ASSERT_TRUE(write_file_atomic(root + "/blob", ""));
    ASSERT_EQ(::truncate((root + "/blob").c_str(), 1100L << 20), 0);
    big.config["root"]["path"] = root;
    big.write();
    std::string id = unique_id("vm");
    auto r = v({"run", "--bundle", big.dir(), id});
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("more than the template's 1024 MiB disk"), std::string::npos) << r.err;
    EXPECT_TRUE(vm_gone(v, id, big));
  }
  // An unknown handler, a directory bind mount, a terminal.
  b.config["annotations"]["org.veil.handler"] = "hypervisor9";
  b.write();
  expect_refused({}, "unknown handler \"hypervisor9\"");
  b.config["annotations"]["org.veil.handler"] = "microvm";
  for (int i = 0; i < 5; ++i)  // writable directory volumes: one virtio-fs device each, at most 4
    b.config["mounts"].push_back({{"destination", "/data" + std::to_string(i)},
                                  {"source", "/tmp"},
                                  {"type", "bind"},
                                  {"options", {"rbind"}}});
  b.write();
  expect_refused({}, "mounts[/data4]: more than 4 writable directory volumes");
}

TEST(Microvm, VeilVmRunsEveryContainerInAMicrovm) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"uname", "-r"});  // no annotation
  std::string id = unique_id("vm");
  std::string veil_vm = std::string(VEIL_BINARY) + "-vm";
  auto r = run({veil_vm, "--root", v.root(), "run", "--bundle", b.dir(), id});
  EXPECT_EQ(r.code, 0) << r.err;
  struct utsname u;
  ::uname(&u);
  EXPECT_EQ(r.out.find(u.release), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("6.1.0-"), std::string::npos) << r.out;
  // The annotation still wins: handler "container" runs on this kernel.
  b.config["annotations"]["org.veil.handler"] = "container";
  b.write();
  auto c = run({veil_vm, "--root", v.root(), "run", "--bundle", b.dir(), unique_id("vm")});
  EXPECT_EQ(c.out, std::string(u.release) + "\n") << c.err;
}

// Without a network namespace, user-mode networking when asked: the guest reaches the host's
// loopback as 10.0.2.2. A value other than "user" is refused.
TEST(Microvm, UserModeNetworkingWhenAsked) {
  REQUIRE_ROOT();
  HostListener l("127.0.0.1");
  ASSERT_GT(l.port, 0);
  int port = l.port;
  Veil v;
  VmBundle b({"sh", "-c", "echo via-slirp | nc 10.0.2.2 " + std::to_string(port) + "; echo nc=$?"});
  b.config["annotations"]["org.veil.microvm.network"] = "user";
  b.write();
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("nc=0"), std::string::npos) << r.out;
  EXPECT_EQ(l.line.get(), "via-slirp\n");
  EXPECT_TRUE(vm_gone(v, id, b));

  b.config["annotations"]["org.veil.microvm.network"] = "bridged";
  b.write();
  std::string id2 = unique_id("vm");
  auto bad = v({"run", "--bundle", b.dir(), id2});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("org.veil.microvm.network: unknown \"bridged\""), std::string::npos)
      << bad.err;
  EXPECT_TRUE(vm_gone(v, id2, b));
}

// CNI's shape: a network namespace with a veth (address, default route) made before the
// container. The VM's NIC is joined to that veth; the guest takes its MAC and address.
TEST(Microvm, TheGuestTakesThePodNetworkAndReachesTheHost) {
  REQUIRE_ROOT();
  int n = ::getpid() % 200 + 20;
  std::string ns = "veil-mvt" + std::to_string(::getpid()),
              host_if = "vmh" + std::to_string(::getpid());
  std::string net = "10.209." + std::to_string(n) + ".";
  auto setup = sh("ip netns add " + ns + " && ip link add " + host_if +
                  " type veth peer name eth0 netns " + ns + " && ip addr add " + net + "1/24 dev " +
                  host_if + " && ip link set " + host_if + " up && ip -n " + ns + " addr add " +
                  net + "2/24 dev eth0 && ip -n " + ns + " link set eth0 up && ip -n " + ns +
                  " link set lo up && ip -n " + ns + " route add default via " + net + "1");
  struct Cleanup {
    std::string ns, host_if;
    ~Cleanup() { sh("ip netns del " + ns + "; ip link del " + host_if + " 2>/dev/null"); }
  } cleanup{ns, host_if};
  ASSERT_EQ(setup.code, 0) << setup.err;
  auto mac = sh("ip netns exec " + ns + " cat /sys/class/net/eth0/address");
  ASSERT_EQ(mac.code, 0) << mac.err;
  std::string want_mac = mac.out.substr(0, 17);

  // A listener on the host end.
  HostListener l(net + "1");
  ASSERT_GT(l.port, 0);
  int port = l.port;
  Veil v;
  VmBundle b({"sh", "-c",
              "ip addr show eth0; echo hello-from-guest | nc " + net + "1 " + std::to_string(port) +
                  "; echo nc=$?"});
  for (auto& e : b.config["linux"]["namespaces"])
    if (e["type"] == "network") e["path"] = "/run/netns/" + ns;
  b.write();
  std::string id = unique_id("vm");
  auto r = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("inet " + net + "2/24"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(want_mac), std::string::npos) << "want " << want_mac << " in\n" << r.out;
  EXPECT_NE(r.out.find("nc=0"), std::string::npos) << r.out;
  EXPECT_EQ(l.line.get(), "hello-from-guest\n");
  EXPECT_TRUE(vm_gone(v, id, b));
  // One VM per namespace: while a VM holds it, another is refused, naming why.
  VmBundle holder({"sleep", "60"});
  holder.config["linux"]["namespaces"] = b.config["linux"]["namespaces"];
  holder.write();
  std::string hid = unique_id("vm");
  ASSERT_EQ(v({"run", "-d", "--bundle", holder.dir(), hid}).code, 0);
  std::string id3 = unique_id("vm");
  auto second = v({"run", "--bundle", b.dir(), id3});
  EXPECT_NE(second.code, 0);
  EXPECT_NE(second.err.find("already joined to another microVM"), std::string::npos) << second.err;
  EXPECT_TRUE(vm_gone(v, id3, b));
  EXPECT_EQ(v({"delete", "--force", hid}).code, 0);
  EXPECT_TRUE(vm_gone(v, hid, holder));
  // The namespace is as CNI left it: no tap, no redirection on its veth.
  EXPECT_NE(sh("ip -n " + ns + " link show veiltap0").code, 0);
  EXPECT_EQ(sh("tc -n " + ns + " qdisc show dev eth0").out.find("ingress"), std::string::npos);
}

}  // namespace
}  // namespace veil::test
