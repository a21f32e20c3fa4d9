// Kubernetes pods through the CRI, as kubelet drives them: a small CRI client (runtime.v1 over
// gRPC) talks to a private containerd whose CRI plugin sets up each pod's network with CNI
// (Debian's bridge + host-local plugins, a bridge and subnet of this test's own), with the
// sandbox image and busybox imported from local archives. Every test runs once per RuntimeClass
// handler: `runc` (the reference: the test's expectations hold for runc) and `veil` (the runc v2
// shim with BinaryName = veil, docs/kubernetes.md). Each pod is stopped and removed by the test,
// and then nothing of it may be left: no shim, process, veil state, network namespace, IP
// address, mount or cgroup.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "base/file.hpp"
#include "client_util.hpp"
#include "containerd_daemon.hpp"
#include "cri_client.hpp"
#include "guard_daemon.hpp"

namespace veil::clients {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kNs = "k8s.io";  // the containerd namespace of the CRI plugin

struct ExecResult {
  std::string error;  // the gRPC error, "" when the call succeeded
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

// One line from a TCP server (bounded: 5 s), "" when it cannot be reached.
std::string tcp_line(const std::string& ip, int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  std::string out;
  ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  auto t0 = Clock::now();
  while (out.find('\n') == std::string::npos && seconds_since(t0) < 5) {
    pollfd p{s, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    char buf[256];
    ssize_t n = ::read(s, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(s);
  return out;
}

class CriPods : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run containerd";
    for (const char* p : {"containerd", "ctr", "containerd-shim-runc-v2", "runc", "ip"})
      if (which(p).empty()) GTEST_SKIP() << p << " not found (scripts/install-deps.sh)";
    for (const char* p : {"bridge", "host-local", "loopback"})
      if (!exists(std::string("/usr/lib/cni/") + p))
        GTEST_SKIP() << "/usr/lib/cni/" << p
                     << " not found: apt-get install containernetworking-plugins";
    run_containerd_existed_ = exists("/run/containerd");
    dir_ = make_temp_dir("veil-cri-");
    int id = ::getpid();
    bridge_ = "vcri" + std::to_string(id % 100000);
    net_ = "veil-cri-" + std::to_string(id);
    subnet_ = "10." + std::to_string(100 + id % 100) + "." + std::to_string(id / 100 % 250) + ".";
    cgroup_parent_ = "/veil-cri-" + std::to_string(id);
    write_cni_bridge(dir_, net_, bridge_, subnet_);
    guard_ = std::make_unique<GuardDaemon>(dir_);
    ::setenv("VEIL_GUARD_DIR", guard_->run_dir().c_str(), 1);
    ::setenv("VEIL_GUARD_BPFFS", guard_->bpffs().c_str(), 1);
    ContainerdOptions& o = options_;
    o.cni_conf_dir = dir_ + "/cni";
    o.veil_vm = kVeil.substr(0, kVeil.rfind('/') + 1) + "veil-vm";
    o.veil_shim = kVeil.substr(0, kVeil.rfind('/') + 1) + "containerd-shim-veil-v2";
    ASSERT_EQ(daemon_.start(dir_, o), "");
    Cmd pause = make_image(dir_ + "/pause.tar", kPauseImage, R"(["sleep","2147483647"])");
    ASSERT_EQ(pause.code, 0) << pause.describe();
    Cmd busybox = make_image(dir_ + "/busybox.tar", kImage);
    ASSERT_EQ(busybox.code, 0) << busybox.describe();
    for (const char* tar : {"/pause.tar", "/busybox.tar"}) {
      Cmd imp = daemon_.ctr({"image", "import", dir_ + tar}, kNs);
      ASSERT_EQ(imp.code, 0) << imp.describe();
    }
    cri_ = std::make_unique<CriClient>(daemon_.socket());
  }

  void TearDown() override {
    ::unsetenv("VEIL_GUARD_DIR");
    ::unsetenv("VEIL_GUARD_BPFFS");
    if (dir_.empty()) return;
    if (daemon_.running()) {
      for (const auto& id : pods_) {  // a failed test's pods
        stop_pod(id);
        remove_pod(id);
      }
      daemon_.stop();
    }
    for (const auto& l : daemon_.complaints()) std::cout << "[ DAEMON   ] " << l << "\n";
    auto shims = pids_with_cmdline(daemon_.socket());
    EXPECT_TRUE(shims.empty()) << shims.size() << " shim(s) of this test still running";
    kill_pids(shims);
    std::string veil_root = daemon_.runc_root() + "/" + kNs;
    for (const auto& id : lines_of(run({kVeil, "--root", veil_root, "list", "-q"}, 20000).out)) {
      ADD_FAILURE() << "veil state of " << id << " left in " << veil_root;
      run({kVeil, "--root", veil_root, "delete", "--force", id}, 20000);
    }
    remove_cgroup_dirs(cgroup_parent_);
    EXPECT_TRUE(cgroup_dirs(cgroup_parent_).empty()) << "cgroup " << cgroup_parent_ << " remains";
    remove_cni_bridge(bridge_);
    guard_.reset();
    remove_tree(dir_);
    EXPECT_TRUE(mounts_under(dir_).empty()) << "mounts under " << dir_ << " remain";
    if (!run_containerd_existed_) {
      for (const char* d : {"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc"})
        ::rmdir(d);
      ::rmdir("/run/containerd");
    }
  }

  const std::string& handler() const { return GetParam(); }

  // RunPodSandbox as kubelet asks for it: pod network (CNI), the pod's own IPC, a cgroup parent
  // under this test's, containers with their own pid namespace (shareProcessNamespace: false).
  std::string run_pod(const std::string& name, const std::map<std::string, std::string>& ann = {},
                      cri::NamespaceMode pid = cri::CONTAINER) {
    cri::PodSandboxConfig& pod = configs_[name];
    pod.mutable_metadata()->set_name(name);
    pod.mutable_metadata()->set_uid("uid-" + name + "-" + std::to_string(::getpid()));
    pod.mutable_metadata()->set_namespace_("default");
    pod.set_hostname(name);
    pod.set_log_directory(dir_ + "/pods/" + name);
    for (const auto& [k, v] : ann) (*pod.mutable_annotations())[k] = v;
    auto* linux = pod.mutable_linux();
    linux->set_cgroup_parent(cgroup_parent_ + "/pod" + pod.metadata().uid());
    linux->mutable_security_context()->mutable_namespace_options()->set_pid(pid);
    cri::RunPodSandboxRequest req;
    *req.mutable_config() = pod;
    req.set_runtime_handler(handler());
    cri::RunPodSandboxResponse resp;
    std::string err = cri_->call(&cri::RuntimeService::Stub::RunPodSandbox, req, &resp, 120);
    EXPECT_EQ(err, "") << "RunPodSandbox " << name;
    if (!err.empty()) return "";
    pods_.push_back(resp.pod_sandbox_id());
    pod_names_[resp.pod_sandbox_id()] = name;
    netns_[resp.pod_sandbox_id()] = netns_of(resp.pod_sandbox_id());
    return resp.pod_sandbox_id();
  }

  cri::PodSandboxStatusResponse pod_status(const std::string& pod) {
    cri::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(pod);
    req.set_verbose(true);
    cri::PodSandboxStatusResponse resp;
    EXPECT_EQ(cri_->call(&cri::RuntimeService::Stub::PodSandboxStatus, req, &resp, 20), "");
    return resp;
  }

  // The pod's network namespace path, from the sandbox's runtime spec.
  std::string netns_of(const std::string& pod) {
    auto st = pod_status(pod);
    auto info =
        nlohmann::json::parse(st.info().count("info") ? st.info().at("info") : "", nullptr, false);
    if (!info.is_object()) return "";
    for (const auto& n : info["runtimeSpec"]["linux"]["namespaces"])
      if (n.value("type", "") == "network") return n.value("path", "");
    return "";
  }

  // CreateContainer + StartContainer. Returns the id ("" when either failed: error in *err).
  std::string start_container(const std::string& pod, const std::string& name,
                              const std::vector<std::string>& cmd,
                              const std::function<void(cri::ContainerConfig&)>& tweak = {},
                              std::string* err = nullptr) {
    cri::CreateContainerRequest req;
    req.set_pod_sandbox_id(pod);
    *req.mutable_sandbox_config() = configs_[pod_names_[pod]];
    auto* c = req.mutable_config();
    c->mutable_metadata()->set_name(name);
    c->mutable_image()->set_image(kImage);
    for (const auto& a : cmd) c->add_command(a);
    c->set_log_path(name + ".log");
    // kubelet repeats the pod's namespace modes for each container.
    *c->mutable_linux()->mutable_security_context()->mutable_namespace_options() =
        configs_[pod_names_[pod]].linux().security_context().namespace_options();
    if (tweak) tweak(*c);
    cri::CreateContainerResponse resp;
    std::string e = cri_->call(&cri::RuntimeService::Stub::CreateContainer, req, &resp, 120);
    if (e.empty()) {
      cri::StartContainerRequest sreq;
      sreq.set_container_id(resp.container_id());
      cri::StartContainerResponse sresp;
      e = cri_->call(&cri::RuntimeService::Stub::StartContainer, sreq, &sresp, 120);
    }
    if (err) {
      *err = e;
    } else {
      EXPECT_EQ(e, "") << "container " << name;
    }
    return resp.container_id();
  }

  cri::ContainerStatusResponse status(const std::string& id) {
    cri::ContainerStatusRequest req;
    req.set_container_id(id);
    req.set_verbose(true);
    cri::ContainerStatusResponse resp;
    EXPECT_EQ(cri_->call(&cri::RuntimeService::Stub::ContainerStatus, req, &resp, 20), "");
    return resp;
  }

  bool wait_exited(const std::string& id, int timeout_ms = 30000) {
    return wait_until([&] { return status(id).status().state() == cri::CONTAINER_EXITED; },
                      timeout_ms);
  }

  // The container's pid, from the verbose status.
  int pid_of(const std::string& id) {
    auto st = status(id);
    auto info =
        nlohmann::json::parse(st.info().count("info") ? st.info().at("info") : "", nullptr, false);
    return info.is_object() ? info.value("pid", 0) : 0;
  }

  ExecResult exec(const std::string& id, const std::vector<std::string>& cmd, int timeout_s = 20) {
    cri::ExecSyncRequest req;
    req.set_container_id(id);
    for (const auto& a : cmd) req.add_cmd(a);
    req.set_timeout(timeout_s);
    cri::ExecSyncResponse resp;
    ExecResult r;
    auto t0 = Clock::now();
    r.error = cri_->call(&cri::RuntimeService::Stub::ExecSync, req, &resp, timeout_s + 30);
    r.seconds = seconds_since(t0);
    r.code = resp.exit_code();
    r.out = resp.stdout();
    r.err = resp.stderr();
    return r;
  }

  std::string stop_pod(const std::string& pod) {
    cri::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(pod);
    cri::StopPodSandboxResponse resp;
    return cri_->call(&cri::RuntimeService::Stub::StopPodSandbox, req, &resp, 90);
  }

  std::string remove_pod(const std::string& pod) {
    cri::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(pod);
    cri::RemovePodSandboxResponse resp;
    std::string err = cri_->call(&cri::RuntimeService::Stub::RemovePodSandbox, req, &resp, 90);
    if (err.empty()) std::erase(pods_, pod);
    return err;
  }

  // Stop and remove the pod, and check that nothing of it is left.
  void finish_pod(const std::string& pod) {
    auto t0 = Clock::now();
    EXPECT_EQ(stop_pod(pod), "");
    EXPECT_EQ(remove_pod(pod), "");
    std::cout << "[ MEASURE  ] " << handler() << ": StopPodSandbox + RemovePodSandbox "
              << seconds_since(t0) << " s\n";
    EXPECT_TRUE(wait_until([&] { return pids_with_cmdline(pod).empty(); }, 10000))
        << "a shim or process of the pod is still running";
    if (handler() != "runc") {
      std::string left =
          run({kVeil, "--root", daemon_.runc_root() + "/" + kNs, "list", "-q"}, 20000).out;
      EXPECT_EQ(left, "") << "veil state left: " << left;
    }
    const std::string& ns = netns_[pod];
    EXPECT_FALSE(ns.empty()) << "the pod had no network namespace";
    if (!ns.empty()) {
      EXPECT_FALSE(exists(ns)) << "network namespace " << ns << " left";
    }
    // host-local keeps one file per address it handed out.
    Cmd ips = run({"sh", "-c", "ls " + dir_ + "/ipam/" + net_ + " 2>/dev/null | grep '^10\\.'"});
    EXPECT_EQ(ips.out, "") << "IP addresses still allocated";
    std::string pod_cg = cgroup_parent_ + "/pod" + configs_[pod_names_[pod]].metadata().uid();
    for (const auto& d : cgroup_dirs(pod_cg))
      EXPECT_EQ(run({"find", d, "-mindepth", "1", "-type", "d"}).out, "")
          << "container cgroups left under " << d;
    EXPECT_TRUE(
        mounts_under(dir_ + "/state/io.containerd.runtime.v2.task/" + std::string(kNs)).empty())
        << "a rootfs is still mounted";
    if (handler() == "veil-vm") {  // the shim v2's own: its state (the VM's files), its socket
      EXPECT_FALSE(exists("/run/veil-shim/" + std::string(kNs) + "/" + pod))
          << "the pod's shim state is left";
    }
  }

  // The memory cgroup (v1) or unified directory of a process, on the host.
  static std::string memory_cgroup(int pid) {
    for (const auto& l : lines_of(read("/proc/" + std::to_string(pid) + "/cgroup"))) {
      auto a = l.find(':'), b = l.find(':', a + 1);
      std::string ctrls = l.substr(a + 1, b - a - 1), path = l.substr(b + 1);
      if (("," + ctrls + ",").find(",memory,") != std::string::npos)
        return "/sys/fs/cgroup/memory" + path;
    }
    return "";
  }

  std::unique_ptr<CriClient> cri_;
  std::unique_ptr<GuardDaemon> guard_;
  ContainerdDaemon daemon_;
  ContainerdOptions options_;
  std::string dir_, bridge_, net_, subnet_, cgroup_parent_;
  std::vector<std::string> pods_;
  std::map<std::string, cri::PodSandboxConfig> configs_;  // by pod name
  std::map<std::string, std::string> pod_names_, netns_;  // by pod id
  bool run_containerd_existed_ = true;
};

// Two containers of one pod: the pod's IP (from CNI) on both, localhost between them, the pod's
// IPC namespace and /dev/shm shared; their files and processes are their own.
TEST_P(CriPods, ContainersShareThePodNetworkAndIpcButNotFilesOrProcesses) {
  std::string pod = run_pod("net");
  ASSERT_NE(pod, "");
  std::string ip = pod_status(pod).status().network().ip();
  EXPECT_EQ(ip.rfind(subnet_, 0), 0u) << "pod IP " << ip << " is not in " << subnet_ << "0/24";
  std::string server = start_container(
      pod, "server",
      {"sh", "-c", "echo a-only > /tmp/mine; while true; do echo hello | nc -l -p 8080; done"});
  std::string client = start_container(pod, "client", {"sleep", "3600"});
  ASSERT_NE(server, "");
  ASSERT_NE(client, "");
  for (const auto& id : {server, client}) {
    auto r = exec(id, {"sh", "-c", "ip -4 -o addr show eth0"});
    EXPECT_EQ(r.code, 0) << r.error << r.err;
    EXPECT_NE(r.out.find("inet " + ip + "/24"), std::string::npos) << r.out;
  }
  // localhost between the containers, and the pod's IP from the host.
  bool served = wait_until(
      [&] {
        return exec(client, {"nc", "127.0.0.1", "8080"}).out == "hello\n";
      },
      10000);
  EXPECT_TRUE(served) << "the client container did not reach the server over localhost";
  // (the server's next `nc -l` may not be listening yet)
  EXPECT_TRUE(wait_until([&] { return tcp_line(ip, 8080) == "hello\n"; }, 10000))
      << "the host did not reach the pod at " << ip;
  // One IPC namespace for the pod, and its /dev/shm.
  auto ipc1 = exec(server, {"readlink", "/proc/self/ns/ipc"});
  auto ipc2 = exec(client, {"readlink", "/proc/self/ns/ipc"});
  EXPECT_EQ(ipc1.out, ipc2.out);
  EXPECT_NE(ipc1.out, veil::read_link("/proc/self/ns/ipc") + "\n");
  EXPECT_EQ(exec(server, {"sh", "-c", "echo shared > /dev/shm/seg"}).code, 0);
  EXPECT_EQ(exec(client, {"cat", "/dev/shm/seg"}).out, "shared\n");
  // Their own files and processes.
  EXPECT_NE(exec(client, {"cat", "/tmp/mine"}).code, 0) << "the client sees the server's /tmp";
  auto ps = exec(client, {"ps", "-o", "pid,args"});
  EXPECT_EQ(ps.out.find("nc -l"), std::string::npos) << "the client sees the server: " << ps.out;
  EXPECT_NE(ps.out.find("    1 sleep 3600"), std::string::npos) << ps.out;
  EXPECT_EQ(exec(client, {"hostname"}).out, "net\n");
  finish_pod(pod);
}

// ExecSync: stdout, stderr and the exit code come back; a command that outlives its timeout is
// an error within a bound, and the command does not stay behind.
TEST_P(CriPods, ExecSyncReturnsOutputAndExitCodeAndHonoursItsTimeout) {
  std::string pod = run_pod("exec");
  ASSERT_NE(pod, "");
  std::string c = start_container(pod, "main", {"sleep", "3600"});
  ASSERT_NE(c, "");
  auto r = exec(c, {"sh", "-c", "echo out; echo err >&2; exit 4"});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  std::cout << "[ MEASURE  ] " << handler() << ": ExecSync " << r.seconds << " s\n";
  auto slow = exec(c, {"sleep", "60"}, 2);
  EXPECT_NE(slow.error, "") << "ExecSync of sleep 60 with a 2 s timeout returned " << slow.code;
  EXPECT_LT(slow.seconds, 20.0);
  EXPECT_TRUE(wait_until(
      [&] {
        return exec(c, {"sh", "-c", "ps -o args | grep -c '^sleep 60'"}).out == "0\n";
      },
      10000))
      << "the timed-out command is still running";
  finish_pod(pod);
}

// A container that exits by itself is EXITED with its code; its output is in the CRI log file.
TEST_P(CriPods, ExitedContainerReportsItsCodeAndItsLogIsInCriFormat) {
  std::string pod = run_pod("exits");
  ASSERT_NE(pod, "");
  std::string c = start_container(pod, "exiting", {"sh", "-c", "echo hi; echo oops >&2; exit 3"});
  ASSERT_NE(c, "");
  ASSERT_TRUE(wait_exited(c)) << "the container never became EXITED";
  auto st = status(c);
  EXPECT_EQ(st.status().exit_code(), 3);
  EXPECT_EQ(st.status().reason(), "Error");
  EXPECT_EQ(st.status().image().image(), kImage);
  std::string log = read(dir_ + "/pods/exits/exiting.log");
  EXPECT_NE(log.find(" stdout F hi\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" stderr F oops\n"), std::string::npos) << log;
  finish_pod(pod);
}

// A pod whose containers share its pid namespace (shareProcessNamespace: true): when one exits,
// the shim reaps the rest of its processes with `kill --all ID 9` — which used to fail for veil
// ("container … is not running"), leaving the container RUNNING forever and the pod impossible to
// stop. The long-running one reports the pid the runtime's state has.
TEST_P(CriPods, InAPodSharingItsPidNamespaceAnExitIsReportedAndThePodStops) {
  std::string pod = run_pod("shared", {}, cri::POD);
  ASSERT_NE(pod, "");
  std::string longer = start_container(pod, "long", {"sleep", "3600"});
  std::string exiting = start_container(pod, "exiting", {"sh", "-c", "echo hi; exit 3"});
  ASSERT_NE(longer, "");
  ASSERT_NE(exiting, "");
  EXPECT_EQ(status(longer).status().state(), cri::CONTAINER_RUNNING);
  int pid = pid_of(longer);
  EXPECT_GT(pid, 0);
  if (handler() == "veil") {
    auto st = run({kVeil, "--root", daemon_.runc_root() + "/" + kNs, "state", longer}, 20000);
    EXPECT_NE(st.out.find("\"pid\": " + std::to_string(pid)), std::string::npos) << st.out;
  }
  ASSERT_TRUE(wait_exited(exiting)) << "the self-exiting container never became EXITED";
  EXPECT_EQ(status(exiting).status().exit_code(), 3);
  auto ps = exec(longer, {"ps", "-o", "args"});
  EXPECT_NE(ps.out.find("sleep 2147483647"), std::string::npos)
      << "no shared pid namespace: " << ps.out;
  auto t0 = Clock::now();
  finish_pod(pod);
  EXPECT_LT(seconds_since(t0), 30.0);
  // (veil-vm reports the pod's shim as the pid: gone too; a zombie waits for its reaper.)
  std::string stat = read("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z ") != std::string::npos)
      << "the long-running container's process " << pid << " survived";
}

// StopContainer: SIGTERM first (a handler runs and chooses the exit code), SIGKILL once the
// grace period is over for a container that ignores it.
TEST_P(CriPods, StopContainerSendsTermThenKillsAfterTheGracePeriod) {
  std::string pod = run_pod("stop");
  ASSERT_NE(pod, "");
  std::string polite = start_container(
      pod, "polite",
      {"sh", "-c", "trap 'echo got TERM; exit 7' TERM; while :; do sleep 0.1; done"});
  std::string stubborn =
      start_container(pod, "stubborn", {"sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"});
  ASSERT_NE(polite, "");
  ASSERT_NE(stubborn, "");
  auto stop = [&](const std::string& id, int grace) {
    cri::StopContainerRequest req;
    req.set_container_id(id);
    req.set_timeout(grace);
    cri::StopContainerResponse resp;
    auto t0 = Clock::now();
    EXPECT_EQ(cri_->call(&cri::RuntimeService::Stub::StopContainer, req, &resp, grace + 30), "");
    return seconds_since(t0);
  };
  double t = stop(polite, 10);
  EXPECT_LT(t, 5.0) << "a container that exits on SIGTERM took the whole grace period";
  EXPECT_EQ(status(polite).status().exit_code(), 7);
  EXPECT_NE(read(dir_ + "/pods/stop/polite.log").find("got TERM"), std::string::npos);
  t = stop(stubborn, 2);
  EXPECT_GE(t, 1.9) << "killed before the grace period was over";
  EXPECT_LT(t, 10.0) << "not killed soon after the grace period";
  EXPECT_EQ(status(stubborn).status().exit_code(), 137);
  finish_pod(pod);
}

// A container over its memory limit is killed by the kernel and reported OOMKilled.
TEST_P(CriPods, AContainerOverItsMemoryLimitIsReportedOomKilled) {
  std::string pod = run_pod("oom");
  ASSERT_NE(pod, "");
  std::string c = start_container(
      pod, "hog", {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"},
      [](cri::ContainerConfig& cc) {
        cc.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(32 << 20);
      });
  ASSERT_NE(c, "");
  ASSERT_TRUE(wait_exited(c)) << "the container never became EXITED";
  auto st = status(c);
  EXPECT_EQ(st.status().exit_code(), 137);
  EXPECT_EQ(st.status().reason(), "OOMKilled");
  finish_pod(pod);
}

// UpdateContainerResources changes the memory limit for real (the host's cgroup and what the
// container can allocate); ContainerStats reports its usage.
TEST_P(CriPods, UpdateResourcesChangesTheMemoryLimitAndStatsReportUsage) {
  std::string pod = run_pod("update");
  ASSERT_NE(pod, "");
  std::string c = start_container(pod, "main", {"sleep", "3600"}, [](cri::ContainerConfig& cc) {
    cc.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(32 << 20);
  });
  ASSERT_NE(c, "");
  int pid = pid_of(c);
  ASSERT_GT(pid, 0);
  // The limit where it applies: the container's cgroup on the host, or in the pod's VM (cgroup
  // v2 in the guest, mounted for the container at its own cgroup).
  auto limit = [&] {
    if (handler() == "veil-vm")
      return exec(c, {"cat", "/sys/fs/cgroup/memory.max"}).out;  // the container's own
    return read(memory_cgroup(pid) + "/memory.limit_in_bytes");
  };
  EXPECT_EQ(limit(), std::to_string(32 << 20) + "\n");
  auto big = exec(c, {"dd", "if=/dev/zero", "of=/dev/null", "bs=48M", "count=1"});
  EXPECT_NE(big.code, 0) << "48 MiB fitted under a 32 MiB limit";
  cri::UpdateContainerResourcesRequest req;
  req.set_container_id(c);
  req.mutable_linux()->set_memory_limit_in_bytes(96 << 20);
  cri::UpdateContainerResourcesResponse resp;
  EXPECT_EQ(cri_->call(&cri::RuntimeService::Stub::UpdateContainerResources, req, &resp), "");
  EXPECT_EQ(limit(), std::to_string(96 << 20) + "\n");
  big = exec(c, {"dd", "if=/dev/zero", "of=/dev/null", "bs=48M", "count=1"});
  EXPECT_EQ(big.code, 0) << "48 MiB did not fit under the raised limit: " << big.err;
  cri::ContainerStatsRequest sreq;
  sreq.set_container_id(c);
  cri::ContainerStatsResponse sresp;
  EXPECT_EQ(cri_->call(&cri::RuntimeService::Stub::ContainerStats, sreq, &sresp), "");
  EXPECT_EQ(sresp.stats().attributes().id(), c);
  EXPECT_GT(sresp.stats().memory().working_set_bytes().value(), 0u);
  EXPECT_GT(sresp.stats().cpu().usage_core_nano_seconds().value(), 0u);
  finish_pod(pod);
}

// A container whose program is not in the image: a clear error through the CRI, and the pod
// still stops and goes without leaving anything.
TEST_P(CriPods, AMissingProgramIsAClearErrorAndThePodStillGoes) {
  std::string pod = run_pod("missing");
  ASSERT_NE(pod, "");
  std::string err;
  start_container(pod, "ghost", {"/no/such/program"}, {}, &err);
  EXPECT_NE(err.find("/no/such/program"), std::string::npos) << err;
  finish_pod(pod);
}

// The shim killed with SIGKILL while the pod runs: the container is reported exited, and the pod
// still stops and goes without leaving anything.
TEST_P(CriPods, AShimKilledMidPodIsReportedAndThePodStillGoes) {
  std::string pod = run_pod("shimkill");
  ASSERT_NE(pod, "");
  std::string c = start_container(pod, "main", {"sleep", "3600"});
  ASSERT_NE(c, "");
  for (pid_t p : pids_with_cmdline(daemon_.socket())) ::kill(p, SIGKILL);
  EXPECT_TRUE(wait_exited(c, 30000))
      << "the container is still reported " << status(c).status().DebugString();
  finish_pod(pod);
}

// A container with a terminal (tty: true): its process has one, and what it writes reaches the
// CRI log (as stdout: a terminal has one stream).
TEST_P(CriPods, ATtyContainerHasATerminalAndItsOutputIsLogged) {
  std::string pod = run_pod("tty");
  ASSERT_NE(pod, "");
  std::string c = start_container(pod, "term", {"sh", "-c", "tty; echo on-tty; sleep 3600"},
                                  [](cri::ContainerConfig& cc) { cc.set_tty(true); });
  ASSERT_NE(c, "");
  std::string log_path = dir_ + "/pods/tty/term.log";
  EXPECT_TRUE(wait_until([&] { return read(log_path).find("on-tty") != std::string::npos; }, 20000))
      << read(log_path);
  std::string log = read(log_path);
  EXPECT_NE(log.find(" stdout F /dev/pts/"), std::string::npos) << log;
  EXPECT_EQ(log.find("not a tty"), std::string::npos) << log;
  finish_pod(pod);
}

// containerd restarted while a pod runs: it finds the shim again (the bundle's `address`), the
// container is still running and answers, and the pod stops and goes as usual.
TEST_P(CriPods, ContainerdRestartedMidPodReconnectsToItsShim) {
  std::string pod = run_pod("restart");
  ASSERT_NE(pod, "");
  std::string c = start_container(pod, "main", {"sleep", "3600"});
  ASSERT_NE(c, "");
  daemon_.stop();
  ASSERT_EQ(daemon_.start(dir_, options_), "");
  cri_ = std::make_unique<CriClient>(daemon_.socket());
  ASSERT_TRUE(
      wait_until([&] { return status(c).status().state() == cri::CONTAINER_RUNNING; }, 20000))
      << status(c).status().DebugString();
  auto r = exec(c, {"echo", "still here"});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "still here\n");
  finish_pod(pod);
}

INSTANTIATE_TEST_SUITE_P(Handlers, CriPods, ::testing::Values("runc", "veil", "veil-vm"),
                         [](const auto& p) {
                           return p.param == "veil-vm" ? std::string("veil_vm") : p.param;
                         });

// What only veil does: the same pods, with veil's features asked for by pod annotation.
class CriVeilPods : public CriPods {};

// The guard's policy as a pod annotation (passed on by the CRI plugin's pod_annotations): each
// container of the pod is guarded; a binary dropped into one is refused, and the event names it.
TEST_P(CriVeilPods, AGuardPolicyAsPodAnnotationBlocksDriftInEachContainer) {
  ASSERT_EQ(guard_->start(), "");
  std::string pod = run_pod("guarded", {{"org.veil.guard.policy", "default"}});
  ASSERT_NE(pod, "");
  std::vector<std::string> ids;
  for (const char* name : {"one", "two"}) {
    ids.push_back(start_container(
        pod, name,
        {"sh", "-c",
         "cp /bin/busybox /tmp/bb; /tmp/bb echo DRIFT-RAN; echo rc=$?; /bin/busybox echo "
         "IMAGE-RAN; sleep 3600"}));
    ASSERT_NE(ids.back(), "");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string log_path = dir_ + "/pods/guarded/" + (i == 0 ? "one" : "two") + ".log";
    EXPECT_TRUE(
        wait_until([&] { return read(log_path).find("IMAGE-RAN") != std::string::npos; }, 20000))
        << read(log_path);
    std::string log = read(log_path);
    EXPECT_EQ(log.find("DRIFT-RAN"), std::string::npos) << log;
    EXPECT_NE(log.find("rc=126"), std::string::npos) << log;
    auto evs = guard_->records_with("\"container\":\"" + ids[i] + "\"");
    ASSERT_FALSE(evs.empty()) << "no guard event for container " << ids[i];
    EXPECT_NE(evs[0].find("\"rule\":\"drift\""), std::string::npos) << evs[0];
  }
  finish_pod(pod);
}

// veil-vm through the runc v2 shim: each container of the pod in its own microVM (one VM per pod
// needs the shim v2). A one-container pod: the application container's VM takes the pod's
// interface (its IP from CNI), the host reaches it, and no host interface is touched — the pod's
// sandbox VM holds the pod's namespace, so the path containerd hands on is not the host's.
class CriVmPods : public CriPods {};

TEST_P(CriVmPods, AOneContainerPodRunsInItsVmWithThePodsNetwork) {
  auto ingress = [] { return run({"sh", "-c", "tc qdisc show | grep -c ingress || true"}).out; };
  std::string before = ingress();
  std::string pod = run_pod("vm");
  ASSERT_NE(pod, "");
  std::string ip = pod_status(pod).status().network().ip();
  std::string c = start_container(pod, "server",
                                  {"sh", "-c", "while true; do echo hello | nc -l -p 8080; done"});
  ASSERT_NE(c, "");
  auto addr = exec(c, {"sh", "-c", "ip -4 -o addr show eth0"});
  EXPECT_NE(addr.out.find("inet " + ip + "/24"), std::string::npos) << addr.out << addr.err;
  auto uname = exec(c, {"uname", "-r"});
  EXPECT_NE(uname.out, run({"uname", "-r"}).out) << "the container runs on the host's kernel";
  EXPECT_TRUE(wait_until([&] { return tcp_line(ip, 8080) == "hello\n"; }, 20000))
      << "the host did not reach the pod's VM at " << ip;
  EXPECT_EQ(ingress(), before) << "an ingress qdisc appeared on a host interface";
  finish_pod(pod);
}

// The shim v2's own limits and failures.
class CriVmShimPods : public CriPods {};

// A pod VM has kPodSlots (4) disk slots: a fifth running container is a clear error, the four
// keep running, and a slot freed by a removed container is used again.
TEST_P(CriVmShimPods, AFifthContainerIsAClearErrorAndAFreedSlotIsReused) {
  std::string pod = run_pod("slots");
  ASSERT_NE(pod, "");
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(start_container(pod, "c" + std::to_string(i), {"sleep", "3600"}));
    ASSERT_NE(ids.back(), "");
  }
  std::string err;
  start_container(pod, "c4", {"sleep", "3600"}, {}, &err);
  EXPECT_NE(err.find("at most 4 containers"), std::string::npos) << err;
  for (const auto& id : ids) EXPECT_EQ(exec(id, {"true"}).code, 0);
  cri::StopContainerRequest sreq;
  sreq.set_container_id(ids[0]);
  sreq.set_timeout(1);
  cri::StopContainerResponse sresp;
  ASSERT_EQ(cri_->call(&cri::RuntimeService::Stub::StopContainer, sreq, &sresp, 30), "");
  cri::RemoveContainerRequest rreq;
  rreq.set_container_id(ids[0]);
  cri::RemoveContainerResponse rresp;
  ASSERT_EQ(cri_->call(&cri::RuntimeService::Stub::RemoveContainer, rreq, &rresp, 30), "");
  std::string again = start_container(pod, "c5", {"sh", "-c", "echo fresh > /tmp/x; sleep 3600"});
  ASSERT_NE(again, "");
  EXPECT_TRUE(wait_until([&] { return exec(again, {"cat", "/tmp/x"}).out == "fresh\n"; }, 10000));
  finish_pod(pod);
}

// The veil-vm RuntimeClass in docs/kubernetes.md declares what a pod's VM costs the node beyond
// its containers: an idle pod's shim and VMM (their PSS on the host) must fit in its
// overhead.podFixed.memory, read from the doc.
TEST_P(CriVmShimPods, TheRuntimeClassOverheadCoversAnIdlePod) {
  std::string rc = doc_block("veil-vm RuntimeClass");
  ASSERT_NE(rc.find("kind: RuntimeClass"), std::string::npos) << rc;
  ASSERT_NE(rc.find("handler: " + handler()), std::string::npos) << rc;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(rc, m, std::regex("memory: \"([0-9]+)Mi\""))) << rc;
  double overhead_mib = std::stod(m[1]);
  std::string pod = run_pod("overhead");
  ASSERT_NE(pod, "");
  ASSERT_NE(start_container(pod, "idle", {"sleep", "3600"}), "");
  std::this_thread::sleep_for(std::chrono::seconds(2));  // idle
  double kib = 0;
  auto pids = pids_with_cmdline(pod);  // the shim (-id <pod>) and its QEMU (-name …/<pod>/vm)
  EXPECT_EQ(pids.size(), 2u);
  for (pid_t p : pids)
    for (const auto& l : lines_of(read("/proc/" + std::to_string(p) + "/smaps_rollup")))
      if (l.starts_with("Pss:")) kib += std::stod(l.substr(4));
  std::cout << "[ MEASURE  ] veil-vm: an idle pod's shim + VMM: " << kib / 1024 << " MiB PSS\n";
  EXPECT_GT(kib, 0);
  EXPECT_LE(kib / 1024, overhead_mib) << "the RuntimeClass's overhead does not cover a pod";
  finish_pod(pod);
}

// A VM that cannot start (no guest kernel where the shim looks): RunPodSandbox fails naming the
// reason, and neither the shim nor anything of the pod stays.
class CriBrokenVmPods : public CriPods {
 protected:
  void SetUp() override {
    ::setenv("VEIL_VM_ASSETS", "/nonexistent-veil-assets", 1);  // containerd passes it on
    CriPods::SetUp();
    ::unsetenv("VEIL_VM_ASSETS");
  }
};

TEST_P(CriBrokenVmPods, APodWhoseVmCannotStartFailsClearlyAndLeavesNothing) {
  cri::PodSandboxConfig& pod = configs_["broken"];
  pod.mutable_metadata()->set_name("broken");
  pod.mutable_metadata()->set_uid("uid-broken-" + std::to_string(::getpid()));
  pod.mutable_metadata()->set_namespace_("default");
  pod.set_log_directory(dir_ + "/pods/broken");
  pod.mutable_linux()->set_cgroup_parent(cgroup_parent_ + "/pod" + pod.metadata().uid());
  cri::RunPodSandboxRequest req;
  *req.mutable_config() = pod;
  req.set_runtime_handler(handler());
  cri::RunPodSandboxResponse resp;
  auto shim_dirs = [] {
    return run({"sh", "-c", "ls /run/veil-shim/" + std::string(kNs) + " 2>/dev/null"}).out;
  };
  std::string before = shim_dirs();
  std::string err = cri_->call(&cri::RuntimeService::Stub::RunPodSandbox, req, &resp, 120);
  EXPECT_NE(err.find("no guest kernel"), std::string::npos) << err;
  EXPECT_TRUE(wait_until([&] { return pids_with_cmdline(daemon_.socket()).empty(); }, 10000))
      << "the shim stayed";
  EXPECT_EQ(shim_dirs(), before) << "shim state left";
  Cmd ips = run({"sh", "-c", "ls " + dir_ + "/ipam/" + net_ + " 2>/dev/null | grep '^10\\.'"});
  EXPECT_EQ(ips.out, "") << "IP addresses still allocated";
}

INSTANTIATE_TEST_SUITE_P(Handlers, CriVmShimPods, ::testing::Values("veil-vm"),
                         [](const auto&) { return std::string("veil_vm"); });
INSTANTIATE_TEST_SUITE_P(Handlers, CriBrokenVmPods, ::testing::Values("veil-vm"),
                         [](const auto&) { return std::string("veil_vm"); });

INSTANTIATE_TEST_SUITE_P(Handlers, CriVmPods, ::testing::Values("veil-vm-runc"),
                         [](const auto&) { return std::string("veil_vm_runc"); });

INSTANTIATE_TEST_SUITE_P(Handlers, CriVeilPods, ::testing::Values("veil", "veil-vm"),
                         [](const auto& p) {
                           return p.param == "veil-vm" ? std::string("veil_vm") : p.param;
                         });

}  // namespace
}  // namespace veil::clients
