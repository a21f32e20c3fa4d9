// containerd 1.6 driving veil through its runc v2 shim (containerd-shim-runc-v2), which is what a
// Kubernetes RuntimeClass handler of runtime_type "io.containerd.runc.v2" with
// options.BinaryName = veil uses. Every test starts its own containerd (root, state, socket and
// config under a temp dir), imports a locally built busybox-static OCI image, runs containers
// with `ctr run --runc-binary <veil>`, and stops the daemon and removes everything at the end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/strings.hpp"
#include "client_util.hpp"
#include "containerd_daemon.hpp"
#include "guard_daemon.hpp"
#include "process_memory.hpp"
#include "sample_kbs.hpp"

namespace veil::clients {
namespace {

class Containerd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run containerd";
    for (const char* p : {"containerd", "ctr", "containerd-shim-runc-v2"})
      if (which(p).empty())
        GTEST_SKIP() << p << " not found: apt-get install containerd (scripts/install-deps.sh)";
    if (which("busybox").empty())
      GTEST_SKIP() << "busybox not found: apt-get install busybox-static";
    run_containerd_existed_ = exists("/run/containerd");
    dir_ = make_temp_dir("veil-ctd-");
    ns_ = "veiltest-" + std::to_string(::getpid());
    sock_ = dir_ + "/containerd.sock";
    runc_root_ = dir_ + "/runc";
    fifo_ = dir_ + "/fifo";
    config_ = dir_ + "/config.toml";
    // containerd -> shim -> veil inherit the environment: veil-attest finds its config there
    // (written only by the secrets test; other containers never read it).
    ::setenv("VEIL_CONFIG", (dir_ + "/kbs/veil.json").c_str(), 1);
    // The same for the guard: this test's own instance (used only by the guard test).
    guard_ = std::make_unique<GuardDaemon>(dir_);
    ::setenv("VEIL_GUARD_DIR", guard_->run_dir().c_str(), 1);
    ::setenv("VEIL_GUARD_BPFFS", guard_->bpffs().c_str(), 1);

    auto t0 = std::chrono::steady_clock::now();
    std::string err = daemon_.start(dir_);
    ASSERT_EQ(err, "");
    std::cout << "[ MEASURE  ] containerd ready in " << seconds_since(t0) << " s\n";

    t0 = std::chrono::steady_clock::now();
    Cmd img = make_image(dir_ + "/busybox.tar", kImage);
    ASSERT_EQ(img.code, 0) << img.describe();
    Cmd imp = ctr({"image", "import", dir_ + "/busybox.tar"});
    ASSERT_EQ(imp.code, 0) << imp.describe();
    std::cout << "[ MEASURE  ] image built and imported in " << seconds_since(t0) << " s\n";
  }

  void TearDown() override {
    ::unsetenv("VEIL_CONFIG");
    ::unsetenv("VEIL_GUARD_DIR");
    ::unsetenv("VEIL_GUARD_BPFFS");
    if (dir_.empty()) return;
    if (daemon_.running()) {
      // Containers still there (a failed test): kill, delete tasks and containers.
      for (const auto& id : lines(ctr({"task", "ls", "-q"}, 20000).out)) {
        ctr({"task", "kill", "-s", "SIGKILL", id}, 20000);
        wait_status(id, "STOPPED", 5000);
        ctr({"task", "rm", "-f", id}, 20000);
      }
      for (const auto& id : lines(ctr({"container", "ls", "-q"}, 20000).out))
        ctr({"container", "rm", id}, 20000);
      daemon_.stop();
    }
    // Warnings and errors of containerd and the shim about the runtime, for the test log.
    for (const auto& l : daemon_.complaints()) std::cout << "[ DAEMON   ] " << l << "\n";
    // Shims outlive containerd; theirs carry our socket address on the command line.
    auto shims = pids_with_cmdline(sock_);
    EXPECT_TRUE(shims.empty()) << shims.size() << " shim(s) of this test still running";
    kill_pids(shims);
    // veil state the shim did not delete (only after a failure).
    std::string veil_root = runc_root_ + "/" + ns_;
    for (const auto& id : lines(run({kVeil, "--root", veil_root, "list", "-q"}, 20000).out)) {
      ADD_FAILURE() << "veil state of " << id << " left in " << veil_root;
      run({kVeil, "--root", veil_root, "delete", "--force", id}, 20000);
    }
    auto cg = cgroup_dirs("/" + ns_ + "/");
    remove_cgroup_dirs("/" + ns_);
    guard_.reset();  // stops its daemon, unloads its programs
    remove_tree(dir_);
    EXPECT_TRUE(mounts_under(dir_).empty()) << "mounts under " << dir_ << " remain";
    EXPECT_TRUE(cgroup_dirs("/" + ns_).empty()) << "cgroup /" << ns_ << " remains";
    if (!run_containerd_existed_) {
      // The shim puts its sockets under /run/containerd/s whatever the config says.
      for (const char* d : {"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc"})
        ::rmdir(d);
      ::rmdir("/run/containerd");
    }
  }

  static std::vector<std::string> lines(const std::string& s) { return lines_of(s); }

  Cmd ctr(std::vector<std::string> args, int timeout_ms = 60000) const {
    return daemon_.ctr(std::move(args), ns_, timeout_ms);
  }

  // ctr run through veil. detach: -d instead of --rm.
  Cmd ctr_run(const std::string& id, const std::vector<std::string>& argv, bool detach = false,
              const std::vector<std::string>& flags = {}, const std::string& binary = kVeil) const {
    std::vector<std::string> a = {"run",           detach ? "-d" : "--rm",
                                  "--runtime",     "io.containerd.runc.v2",
                                  "--runc-binary", binary,
                                  "--runc-root",   runc_root_,
                                  "--fifo-dir",    fifo_};
    a.insert(a.end(), flags.begin(), flags.end());
    a.push_back(kImage);
    a.push_back(id);
    a.insert(a.end(), argv.begin(), argv.end());
    return ctr(a, 120000);
  }

  // (pid, status) from `ctr task ls`; status empty if the task is unknown.
  std::pair<int, std::string> task(const std::string& id) const {
    for (const auto& l : lines(ctr({"task", "ls"}, 20000).out)) {
      std::istringstream in(l);
      std::string tid, pid, status;
      in >> tid >> pid >> status;
      if (tid == id) return {std::atoi(pid.c_str()), status};
    }
    return {0, ""};
  }

  bool wait_status(const std::string& id, const std::string& status, int timeout_ms = 10000) {
    return wait_until([&] { return task(id).second == status; }, timeout_ms);
  }

  // Kills (SIGKILL) and deletes a detached container; returns `ctr task rm`.
  Cmd remove(const std::string& id) {
    ctr({"task", "kill", "-s", "SIGKILL", id});
    wait_status(id, "STOPPED");
    Cmd rm = ctr({"task", "rm", id});
    ctr({"container", "rm", id});
    return rm;
  }

  // The container's cgroup directory for a v1 controller (or the v2 one when controller is
  // empty or the host has no v1 hierarchy for it), from /proc/<pid>/cgroup.
  static std::string cgroup_of(int pid, const std::string& controller) {
    std::istringstream in(read("/proc/" + std::to_string(pid) + "/cgroup"));
    std::string l, v2;
    while (std::getline(in, l)) {
      auto a = l.find(':'), b = l.find(':', a + 1);
      std::string ctrls = l.substr(a + 1, b - a - 1), path = l.substr(b + 1);
      if (ctrls.empty()) v2 = path;
      std::istringstream cs(ctrls);
      std::string c;
      while (std::getline(cs, c, ','))
        if (!controller.empty() && c == controller) return "/sys/fs/cgroup/" + controller + path;
    }
    if (exists("/sys/fs/cgroup/unified")) return "/sys/fs/cgroup/unified" + v2;
    return "/sys/fs/cgroup" + v2;
  }

  std::unique_ptr<GuardDaemon> guard_;
  std::string dir_, ns_, sock_, runc_root_, fifo_, config_;
  ContainerdDaemon daemon_;
  bool run_containerd_existed_ = true;
};

TEST_F(Containerd, ConfigRegistersVeilAsRuntimeClassHandler) {
  // containerd parses the config and the CRI plugin accepts the `veil` runtime entry.
  Cmd dump = run({"containerd", "--config", config_, "config", "dump"}, 30000);
  ASSERT_EQ(dump.code, 0) << dump.describe();
  EXPECT_NE(dump.out.find("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.veil]"),
            std::string::npos)
      << dump.out;
  EXPECT_NE(dump.out.find("BinaryName = \"" + kVeil + "\""), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("restrict_oom_score_adj = true"), std::string::npos) << dump.out;
  Cmd plugins = ctr({"plugins", "ls"});
  ASSERT_EQ(plugins.code, 0) << plugins.describe();
  bool cri_ok = false;
  for (const auto& l : lines(plugins.out))
    if (l.find("io.containerd.grpc.v1") != std::string::npos &&
        l.find(" cri ") != std::string::npos && l.find(" ok") != std::string::npos)
      cri_ok = true;
  EXPECT_TRUE(cri_ok) << plugins.out << "\ncontainerd log:\n" << read(dir_ + "/containerd.log");
}

TEST_F(Containerd, EchoAndExitCodes) {
  Cmd echo = ctr_run("echo", {"echo", "hello from veil"});
  ASSERT_EQ(echo.code, 0) << echo.describe();
  EXPECT_EQ(echo.out, "hello from veil\n") << echo.describe();
  std::cout << "[ MEASURE  ] ctr run --rm echo (veil): " << echo.seconds << " s\n";

  Cmd ex = ctr_run("exit7", {"sh", "-c", "echo to-stderr >&2; exit 7"});
  EXPECT_EQ(ex.code, 7) << ex.describe();
  EXPECT_NE(ex.err.find("to-stderr"), std::string::npos) << ex.describe();

  // The container sees its own pid namespace and the image's files.
  Cmd env = ctr_run("env", {"sh", "-c", "echo pid=$$; head -1 /etc/passwd"});
  ASSERT_EQ(env.code, 0) << env.describe();
  EXPECT_EQ(env.out, "pid=1\nroot:x:0:0:root:/root:/bin/sh\n") << env.describe();
}

TEST_F(Containerd, VeilIsTheRuntime) {
  Cmd r = ctr_run("sleeper", {"sleep", "1000"}, true);
  ASSERT_EQ(r.code, 0) << r.describe();
  ASSERT_TRUE(wait_status("sleeper", "RUNNING")) << ctr({"task", "ls"}).out;
  int pid = task("sleeper").first;
  // The shim keeps its container state in <runc root>/<namespace>, and that state is veil's.
  std::string veil_root = runc_root_ + "/" + ns_;
  Cmd st = run({kVeil, "--root", veil_root, "state", "sleeper"});
  ASSERT_EQ(st.code, 0) << st.describe();
  auto j = nlohmann::json::parse(st.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << st.out;
  EXPECT_EQ(j.value("status", ""), "running");
  EXPECT_EQ(j.value("pid", 0), pid);
  EXPECT_EQ(j.value("bundle", ""),
            dir_ + "/state/io.containerd.runtime.v2.task/" + ns_ + "/sleeper");
  Cmd list = run({kVeil, "--root", veil_root, "list", "-q"});
  EXPECT_EQ(list.out, "sleeper\n") << list.describe();
  // The shim passed --log <bundle>/log.json to veil; `ctr task ps` goes through `veil ps`.
  EXPECT_TRUE(exists(dir_ + "/state/io.containerd.runtime.v2.task/" + ns_ + "/sleeper/log.json"));
  Cmd ps = ctr({"task", "ps", "sleeper"});
  ASSERT_EQ(ps.code, 0) << ps.describe();
  EXPECT_NE(ps.out.find(std::to_string(pid)), std::string::npos) << ps.describe();

  Cmd rm = remove("sleeper");
  EXPECT_EQ(rm.code, 0) << rm.describe();
  EXPECT_FALSE(exists(veil_root + "/sleeper")) << "veil state left after ctr task rm";
  EXPECT_TRUE(cgroup_dirs("/" + ns_ + "/sleeper").empty()) << "cgroup left after ctr task rm";
}

TEST_F(Containerd, ExecIntoRunningTask) {
  ASSERT_EQ(ctr_run("box", {"sleep", "1000"}, true).code, 0);
  ASSERT_TRUE(wait_status("box", "RUNNING"));
  Cmd ex = ctr({"task", "exec", "--exec-id", "e1", "--fifo-dir", fifo_, "box", "sh", "-c",
                "echo exec-out; cat /proc/1/cmdline; echo; exit 5"});
  EXPECT_EQ(ex.code, 5) << ex.describe();
  EXPECT_EQ(ex.out, std::string("exec-out\nsleep") + '\0' + "1000" + '\0' + "\n") << ex.describe();
  std::cout << "[ MEASURE  ] ctr task exec (veil): " << ex.seconds << " s\n";
  Cmd ok = ctr({"task", "exec", "--exec-id", "e2", "--fifo-dir", fifo_, "box", "id", "-u"});
  EXPECT_EQ(ok.code, 0) << ok.describe();
  EXPECT_EQ(ok.out, "0\n") << ok.describe();
  EXPECT_EQ(task("box").second, "RUNNING");
  EXPECT_EQ(remove("box").code, 0);
}

TEST_F(Containerd, KillDeliversSignals) {
  // SIGTERM reaches a handler in the container (pid 1 has no default action for it).
  ASSERT_EQ(
      ctr_run("term", {"sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"}, true).code,
      0);
  ASSERT_TRUE(wait_status("term", "RUNNING"));
  int pid = task("term").first;
  // Wait until the trap is installed (SIGTERM, 15, is bit 14 of SigCgt).
  ASSERT_TRUE(wait_until(
      [&] {
        std::string s = read("/proc/" + std::to_string(pid) + "/status");
        auto p = s.find("SigCgt:");
        return p != std::string::npos && (std::stoull(s.substr(p + 7), nullptr, 16) >> 14) & 1;
      },
      10000));
  Cmd k = ctr({"task", "kill", "term"});
  ASSERT_EQ(k.code, 0) << k.describe();
  ASSERT_TRUE(wait_status("term", "STOPPED")) << ctr({"task", "ls"}).out;
  Cmd rm = ctr({"task", "rm", "term"});
  EXPECT_NE(rm.err.find("exit code 42"), std::string::npos) << rm.describe();
  ctr({"container", "rm", "term"});

  ASSERT_EQ(ctr_run("hard", {"sleep", "1000"}, true).code, 0);
  ASSERT_TRUE(wait_status("hard", "RUNNING"));
  Cmd k9 = ctr({"task", "kill", "-s", "SIGKILL", "hard"});
  ASSERT_EQ(k9.code, 0) << k9.describe();
  ASSERT_TRUE(wait_status("hard", "STOPPED"));
  Cmd rm9 = ctr({"task", "rm", "hard"});
  EXPECT_NE(rm9.err.find("exit code 137"), std::string::npos) << rm9.describe();
  ctr({"container", "rm", "hard"});
}

TEST_F(Containerd, PauseResume) {
  ASSERT_EQ(
      ctr_run("counter",
              {"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"},
              true)
          .code,
      0);
  ASSERT_TRUE(wait_status("counter", "RUNNING"));
  int pid = task("counter").first;
  std::string count = "/proc/" + std::to_string(pid) + "/root/tmp/count";
  ASSERT_TRUE(wait_until([&] { return std::atoi(read(count).c_str()) > 0; }, 10000));

  Cmd p = ctr({"task", "pause", "counter"});
  ASSERT_EQ(p.code, 0) << p.describe();
  ASSERT_TRUE(wait_status("counter", "PAUSED")) << ctr({"task", "ls"}).out;
  std::string freezer = cgroup_of(pid, "freezer");
  if (freezer.find("/sys/fs/cgroup/freezer") == 0)
    EXPECT_EQ(read(freezer + "/freezer.state"), "FROZEN\n") << freezer;
  else
    EXPECT_NE(read(freezer + "/cgroup.events").find("frozen 1"), std::string::npos) << freezer;
  std::string frozen_at = read(count);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(read(count), frozen_at) << "the counter advanced while paused";

  Cmd r = ctr({"task", "resume", "counter"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(wait_status("counter", "RUNNING"));
  int before = std::atoi(frozen_at.c_str());
  EXPECT_TRUE(wait_until([&] { return std::atoi(read(count).c_str()) > before; }, 5000))
      << "the counter did not advance after resume";
  EXPECT_EQ(remove("counter").code, 0);
}

TEST_F(Containerd, MemoryLimitReallyOomKills) {
  const std::vector<std::string> limit = {"--memory-limit", "33554432"};
  // The limit lands in the container's memory cgroup on the host.
  ASSERT_EQ(ctr_run("limited", {"sleep", "1000"}, true, limit).code, 0);
  ASSERT_TRUE(wait_status("limited", "RUNNING"));
  std::string mem = cgroup_of(task("limited").first, "memory");
  if (mem.find("/sys/fs/cgroup/memory") == 0)
    EXPECT_EQ(read(mem + "/memory.limit_in_bytes"), "33554432\n") << mem;
  else
    EXPECT_EQ(read(mem + "/memory.max"), "33554432\n") << mem;
  EXPECT_EQ(remove("limited").code, 0);

  // A 64 MiB buffer in a 32 MiB container is OOM-killed: SIGKILL, exit status 137.
  Cmd oom =
      ctr_run("oom", {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"}, false, limit);
  EXPECT_EQ(oom.code, 137) << oom.describe();
  // 8 MiB fits.
  Cmd fits =
      ctr_run("fits", {"dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"}, false, limit);
  EXPECT_EQ(fits.code, 0) << fits.describe();
}

TEST_F(Containerd, Terminal) {
  // ctr -t needs a terminal on its own stdin: give it one with script(1). The shim then passes
  // --console-socket to `veil create` and `veil exec`.
  if (which("script").empty()) GTEST_SKIP() << "script not found: apt-get install util-linux";
  auto in_pty = [&](const std::string& cmd) {
    std::string line = "ctr -a " + sock_ + " -n " + ns_ + " " + cmd;
    return run({"script", "-qec", line, "/dev/null"}, 60000);
  };
  Cmd c =
      in_pty("run --rm -t --runc-binary " + kVeil + " --runc-root " + runc_root_ + " --fifo-dir " +
             fifo_ + " " + kImage + " tty sh -c 'tty; test -t 1 && echo is-a-tty'");
  ASSERT_EQ(c.code, 0) << c.describe();
  EXPECT_NE(c.out.find("/dev/pts/0"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("is-a-tty"), std::string::npos) << c.describe();

  ASSERT_EQ(ctr_run("tbox", {"sleep", "1000"}, true).code, 0);
  ASSERT_TRUE(wait_status("tbox", "RUNNING"));
  Cmd ex = in_pty("task exec -t --exec-id t1 --fifo-dir " + fifo_ +
                  " tbox sh -c 'tty; test -t 1 && echo exec-is-a-tty; exit 3'");
  EXPECT_EQ(ex.code, 3) << ex.describe();
  EXPECT_NE(ex.out.find("/dev/pts/"), std::string::npos) << ex.describe();
  EXPECT_NE(ex.out.find("exec-is-a-tty"), std::string::npos) << ex.describe();
  EXPECT_EQ(remove("tbox").code, 0);
}

TEST_F(Containerd, RuntimeErrorReachesTheClient) {
  // veil's error (from the json log the shim passes with --log) is what ctr reports.
  Cmd bad = ctr_run("bad", {"/no/such/program"});
  EXPECT_NE(bad.code, 0) << bad.describe();
  EXPECT_NE(bad.err.find("/no/such/program"), std::string::npos) << bad.describe();
  std::cout << "[ CLIENT   ] " << bad.err;
  EXPECT_TRUE(task("bad").second.empty());
  EXPECT_FALSE(exists(runc_root_ + "/" + ns_ + "/bad")) << "veil state left after a failed create";
  ctr({"container", "rm", "bad"});
}

// org.veil.secrets through containerd's runc v2 shim (the RuntimeClass path): the annotation
// reaches config.json, `veil create` attests to a real veil-kbs and mounts the secret.
TEST_F(Containerd, SecretsAnnotationDeliversIntoTheContainer) {
  SampleKbs kbs;
  std::string err = kbs.start(dir_ + "/kbs", "demo/key/token", "containerd-s3cret");
  ASSERT_EQ(err, "");
  Cmd c = ctr_run("sec", {"sh", "-c", "stat -c '%a %u' /run/secrets/token; cat /run/secrets/token"},
                  false, {"--annotation", "org.veil.secrets=kbs:///demo/key/token"});
  EXPECT_EQ(c.code, 0) << c.describe();
  EXPECT_EQ(c.out, "400 0\ncontainerd-s3cret") << c.describe();
  Cmd missing = ctr_run("sec2", {"true"}, false,
                        {"--annotation", "org.veil.secrets=kbs:///demo/key/missing"});
  EXPECT_NE(missing.code, 0) << missing.describe();
  EXPECT_NE((missing.out + missing.err).find("HTTP 404"), std::string::npos) << missing.describe();
  ctr({"container", "rm", "sec2"});
}

// org.veil.secrets through the shim v2: attested and fetched on the host, the secret reaches the
// container in the pod's VM, and the shim — the pod's one long-lived host process — holds
// neither the plaintext nor its hex in any writable memory once the guest has it.
TEST_F(Containerd, SecretsThroughTheShimV2ReachTheGuestAndLeaveTheShim) {
  SampleKbs kbs;
  ASSERT_EQ(kbs.start(dir_ + "/kbs", "demo/key/token", "shim-s3cret-value"), "");
  const std::string shim = kVeil.substr(0, kVeil.rfind('/') + 1) + "containerd-shim-veil-v2";
  Cmd d = ctr({"run", "-d", "--runtime", shim, "--fifo-dir", fifo_, "--annotation",
               "org.veil.secrets=kbs:///demo/key/token", kImage, "shim-sec", "sleep", "1000"},
              120000);
  ASSERT_EQ(d.code, 0) << d.describe();
  ASSERT_TRUE(wait_status("shim-sec", "RUNNING"));
  Cmd cat = ctr({"task", "exec", "--exec-id", "s1", "shim-sec", "sh", "-c",
                 "stat -c '%a %u' /run/secrets/token; cat /run/secrets/token; uname -r"});
  EXPECT_EQ(cat.code, 0) << cat.describe();
  EXPECT_EQ(cat.out.rfind("400 0\nshim-s3cret-value6.1.0-", 0), 0u) << cat.describe();
  pid_t shim_pid = 0;
  for (pid_t p : pids_with_cmdline("shim-sec"))
    if (read("/proc/" + std::to_string(p) + "/cmdline").find("containerd-shim-veil-v2") !=
        std::string::npos)
      shim_pid = p;
  ASSERT_GT(shim_pid, 0);
  const std::string secret = "shim-s3cret-value";

  std::string hex = veil::to_hex(secret);
  auto scan = veil_test::scan_writable_memory(shim_pid, {secret, hex});
  EXPECT_GT(scan.scanned, 0u);
  EXPECT_FALSE(scan.found) << "the shim's memory holds the secret";
  EXPECT_EQ(remove("shim-sec").code, 0);
}

// The guard through containerd (the annotation reaches config.json through the runc v2 shim):
// a binary dropped into the container is refused and the event names the container.
TEST_F(Containerd, GuardAnnotationProtectsTheContainer) {
  std::string err = guard_->start();
  ASSERT_EQ(err, "");
  Cmd c = ctr_run("guarded",
                  {"sh", "-c",
                   "cp /bin/busybox /tmp/busybox; /tmp/busybox echo DRIFT-RAN; echo rc=$?; "
                   "/bin/busybox echo IMAGE-RAN"},
                  false, {"--annotation", "org.veil.guard.policy=default"});
  EXPECT_EQ(c.code, 0) << c.describe();
  EXPECT_EQ(c.out.find("DRIFT-RAN"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("rc=126"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("IMAGE-RAN"), std::string::npos) << c.describe();
  auto evs = guard_->records_with("\"container\":\"guarded\"");
  ASSERT_FALSE(evs.empty()) << "no guard event for the containerd container";
  EXPECT_NE(evs[0].find("\"rule\":\"drift\""), std::string::npos) << evs[0];
  // Deleting the task unregistered it.
  Cmd st = run({VEIL_GUARD_BINARY, "--dir", guard_->run_dir(), "--bpffs", guard_->bpffs(), "status",
                "--json"});
  EXPECT_EQ(st.out.find("\"id\":\"guarded\""), std::string::npos) << st.out;
}

// The guard inside a microVM: the same annotation; the guard's BPF programs run in the guest
// kernel (BPF LSM), and the event reaches the host's audit stream through the monitor, marked as
// the guest's.
TEST_F(Containerd, MicrovmGuardBlocksDriftInTheGuest) {
  std::string err = guard_->start();
  ASSERT_EQ(err, "");
  Cmd c = ctr_run("vm-guarded",
                  {"sh", "-c",
                   "cp /bin/busybox /tmp/busybox; /tmp/busybox echo DRIFT-RAN; echo rc=$?; "
                   "/bin/busybox echo IMAGE-RAN; uname -r"},
                  false, {"--annotation", "org.veil.guard.policy=default"}, kVeil + "-vm");
  EXPECT_EQ(c.code, 0) << c.describe();
  EXPECT_EQ(c.out.find("DRIFT-RAN"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("rc=126"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("IMAGE-RAN"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("6.1.0-"), std::string::npos) << "not the guest kernel: " << c.describe();
  auto evs = guard_->records_with("\"container\":\"vm-guarded\"");
  ASSERT_FALSE(evs.empty()) << "no guard event from the guest";
  EXPECT_NE(evs[0].find("\"rule\":\"drift\""), std::string::npos) << evs[0];
  EXPECT_NE(evs[0].find("lsm"), std::string::npos) << evs[0];
  EXPECT_NE(evs[0].find("(guest)\""), std::string::npos) << evs[0];
}

// The microvm handler through containerd's runc v2 shim: `veil-vm` (veil under another name) runs
// every container in its own microVM; the shim sees the monitor as the container's process.
TEST_F(Containerd, MicrovmThroughVeilVm) {
  const std::string veil_vm = kVeil + "-vm";
  Cmd r = ctr_run("vm-echo", {"sh", "-c", "echo kernel=$(uname -r); exit 6"}, false, {}, veil_vm);
  EXPECT_EQ(r.code, 6) << r.describe();
  EXPECT_NE(r.out.find("kernel=6.1.0-"), std::string::npos) << r.describe();
  std::cout << "[ MEASURE  ] ctr run --rm (veil-vm): " << r.seconds << " s\n";

  Cmd d = ctr_run("vm-sleeper", {"sleep", "1000"}, true, {}, veil_vm);
  ASSERT_EQ(d.code, 0) << d.describe();
  ASSERT_TRUE(wait_status("vm-sleeper", "RUNNING")) << ctr({"task", "ls"}).out;
  Cmd ex = ctr({"task", "exec", "--exec-id", "e1", "vm-sleeper", "sh", "-c",
                "echo in-vm $(cat /proc/1/cmdline | tr '\\0' ' '); exit 3"});
  EXPECT_EQ(ex.code, 3) << ex.describe();
  EXPECT_NE(ex.out.find("in-vm sleep 1000"), std::string::npos) << ex.describe();
  Cmd rm = remove("vm-sleeper");
  EXPECT_EQ(rm.code, 0) << rm.describe();
  EXPECT_EQ(task("vm-sleeper").second, "");
}

// The shim v2 (docs/shim.md) through ctr: a container outside Kubernetes is a pod of its own. Run
// with output and exit code, then a detached one through every task call ctr makes: exec, ps
// (the guest's pids), pause/resume (the guest's freezer), metrics (cgroups v2 Metrics from the
// guest), kill, delete — and no shim or VMM left.
TEST_F(Containerd, ShimV2ThroughCtr) {
  const std::string shim = kVeil.substr(0, kVeil.rfind('/') + 1) + "containerd-shim-veil-v2";
  auto run_shim = [&](const std::string& id, const std::vector<std::string>& argv, bool detach) {
    std::vector<std::string> a = {
        "run", detach ? "-d" : "--rm", "--runtime", shim, "--fifo-dir", fifo_, kImage, id};
    a.insert(a.end(), argv.begin(), argv.end());
    return ctr(a, 120000);
  };
  Cmd r =
      run_shim("shim-echo", {"sh", "-c", "echo kernel=$(uname -r); echo err >&2; exit 6"}, false);
  EXPECT_EQ(r.code, 6) << r.describe();
  EXPECT_NE(r.out.find("kernel=6.1.0-"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("err"), std::string::npos) << r.describe();
  std::cout << "[ MEASURE  ] ctr run --rm (shim v2): " << r.seconds << " s\n";

  Cmd d = run_shim("shim-sleeper", {"sleep", "1000"}, true);
  ASSERT_EQ(d.code, 0) << d.describe();
  ASSERT_TRUE(wait_status("shim-sleeper", "RUNNING")) << ctr({"task", "ls"}).out;
  Cmd ex = ctr({"task", "exec", "--exec-id", "e1", "shim-sleeper", "sh", "-c",
                "echo in-vm $(cat /proc/1/cmdline | tr '\\0' ' '); exit 3"});
  EXPECT_EQ(ex.code, 3) << ex.describe();
  EXPECT_NE(ex.out.find("in-vm sleep 1000"), std::string::npos) << ex.describe();
  // An exec's stdin, written by ctr before the process starts, reaches it, and so does its end.
  Cmd in = run({"ctr", "-a", daemon_.socket(), "-n", ns_, "task", "exec", "--exec-id", "e3",
                "shim-sleeper", "cat"},
               30000, "through stdin\n");
  EXPECT_EQ(in.code, 0) << in.describe();
  EXPECT_EQ(in.out, "through stdin\n") << in.describe();
  Cmd ps = ctr({"task", "ps", "shim-sleeper"});
  EXPECT_EQ(ps.code, 0) << ps.describe();
  EXPECT_GE(lines(ps.out).size(), 2u) << ps.out;  // header + the guest's pids
  ASSERT_EQ(ctr({"task", "pause", "shim-sleeper"}).code, 0);
  EXPECT_TRUE(wait_status("shim-sleeper", "PAUSED"));
  ASSERT_EQ(ctr({"task", "resume", "shim-sleeper"}).code, 0);
  EXPECT_TRUE(wait_status("shim-sleeper", "RUNNING"));
  EXPECT_EQ(ctr({"task", "exec", "--exec-id", "e2", "shim-sleeper", "true"}).code, 0);
  Cmd m = ctr({"task", "metrics", "shim-sleeper"});
  EXPECT_EQ(m.code, 0) << m.describe();
  EXPECT_NE(m.out.find("memory.usage"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("pids.current"), std::string::npos) << m.out;
  Cmd rm = remove("shim-sleeper");
  EXPECT_EQ(rm.code, 0) << rm.describe();
  EXPECT_EQ(task("shim-sleeper").second, "");
  EXPECT_TRUE(wait_until([&] { return pids_with_cmdline("shim-sleeper").empty(); }, 10000))
      << "the shim or its VMM stayed";
}

}  // namespace
}  // namespace veil::clients
