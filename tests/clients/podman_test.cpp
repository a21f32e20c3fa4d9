// Podman 4.3 with `--runtime <veil>`: storage, run root and tmp dir under a temp dir, the vfs
// storage driver (no mounts to leak), the cgroupfs manager (no systemd here), the busybox-static
// image loaded from an OCI archive. Podman runs veil through conmon (create/start/exec/kill/
// delete) with veil's default --root (/run/veil): `--runtime-flag root=…` is not passed on to
// the `podman container cleanup` exit command in 4.3, so a custom root would leak state.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <sstream>

#include "client_util.hpp"
#include "guard_daemon.hpp"
#include "sample_kbs.hpp"

namespace veil::clients {
namespace {

constexpr const char* kImage = "docker.io/veiltest/busybox:latest";
const std::string kVeilRoot = "/run/veil";

class Podman : public ::testing::Test {
 protected:
  // Whether /libpod_parent existed before the first test: decided once, because a test's conmon
  // may still sit in /libpod_parent/conmon when its TearDown runs, and the next test must not
  // take the leftover for something that was there before.
  static void SetUpTestSuite() { libpod_parent_existed_ = !cgroup_dirs("/libpod_parent").empty(); }
  static void TearDownTestSuite() {
    if (libpod_parent_existed_) return;
    bool gone = wait_until(
        [] {
          remove_cgroup_dirs("/libpod_parent");
          return cgroup_dirs("/libpod_parent").empty();
        },
        10000);
    EXPECT_TRUE(gone) << "cgroup /libpod_parent (podman's conmon cgroup) is left";
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run rootful podman";
    for (const char* p : {"podman", "conmon"})
      if (which(p).empty())
        GTEST_SKIP() << p << " not found: apt-get install podman (scripts/install-deps.sh)";
    if (which("busybox").empty())
      GTEST_SKIP() << "busybox not found: apt-get install busybox-static";
    var_lib_containers_existed_ = exists("/var/lib/containers");
    cache_existed_ = exists("/var/lib/containers/cache");
    dir_ = make_temp_dir("veil-podman-");
    // conmon writes an "oom" marker file into its working directory when the container is
    // OOM-killed: let that be the temp dir, not wherever the tests were started.
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) old_cwd_ = cwd;
    ASSERT_EQ(::chdir(dir_.c_str()), 0);
    auto t0 = std::chrono::steady_clock::now();
    Cmd img = make_image(dir_ + "/busybox.tar", kImage);
    ASSERT_EQ(img.code, 0) << img.describe();
    Cmd load = podman({"load", "-i", dir_ + "/busybox.tar"});
    ASSERT_EQ(load.code, 0) << load.describe();
    ASSERT_NE(load.out.find(kImage), std::string::npos) << load.describe();
    std::cout << "[ MEASURE  ] image built and loaded in " << seconds_since(t0) << " s\n";
  }

  void TearDown() override {
    if (dir_.empty()) return;
    std::istringstream ids(podman({"ps", "-a", "-q", "--no-trunc"}, 30000).out);
    Cmd rm = podman({"rm", "-a", "-f", "-t", "0"}, 60000);
    EXPECT_EQ(rm.code, 0) << rm.describe();
    std::string id;
    while (ids >> id) {
      if (exists(kVeilRoot + "/" + id)) {
        ADD_FAILURE() << "veil state " << kVeilRoot << "/" << id << " left after podman rm";
        run({kVeil, "--root", kVeilRoot, "delete", "--force", id}, 20000);
      }
      auto cg = cgroup_dirs("/libpod_parent/libpod-" + id);
      EXPECT_TRUE(cg.empty()) << "cgroup " << cg.front() << " left after podman rm";
      remove_cgroup_dirs("/libpod_parent/libpod-" + id);
    }
    // conmon processes of this test carry the temp dir on their command line.
    auto left = pids_with_cmdline(dir_);
    EXPECT_TRUE(left.empty()) << left.size() << " process(es) of this test still running";
    kill_pids(left);
    if (!old_cwd_.empty()) (void)!::chdir(old_cwd_.c_str());
    remove_tree(dir_);
    EXPECT_TRUE(mounts_under(dir_).empty()) << "mounts under " << dir_ << " remain";
    // What rootful podman creates outside its --root/--runroot/--tmpdir: the conmon cgroup
    // (/libpod_parent/conmon) and the blob info cache (/var/lib/containers/cache).
    if (!libpod_parent_existed_) remove_cgroup_dirs("/libpod_parent");
    if (!cache_existed_) remove_tree_abs("/var/lib/containers/cache");
    if (!var_lib_containers_existed_) ::rmdir("/var/lib/containers");
  }

  static void remove_tree_abs(const std::string& d) {
    run({"rm", "-rf", "--one-file-system", d}, 20000);
  }

  Cmd podman(std::vector<std::string> args, int timeout_ms = 120000,
             const std::string& runtime = kVeil) const {
    std::vector<std::string> a = {"podman",
                                  "--root",
                                  dir_ + "/root",
                                  "--runroot",
                                  dir_ + "/runroot",
                                  "--tmpdir",
                                  dir_ + "/tmp",
                                  "--storage-driver",
                                  "vfs",
                                  "--cgroup-manager",
                                  "cgroupfs",
                                  "--events-backend",
                                  "file",
                                  "--runtime",
                                  runtime};
    a.insert(a.end(), args.begin(), args.end());
    return run(a, timeout_ms);
  }

  // Flags for every `podman run`. Rootful podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of
  // 1048576; raising a hard limit needs CAP_SYS_RESOURCE, which this host's bounding set lacks
  // (runc fails the same way), so ask for lower limits there.
  static std::vector<std::string> run_flags() {
    std::vector<std::string> f = {"--network", "none"};
    if (!have_bounding_cap(CAP_SYS_RESOURCE))
      f.insert(f.end(), {"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"});
    return f;
  }

  Cmd podman_run(const std::vector<std::string>& flags, const std::vector<std::string>& argv) {
    std::vector<std::string> a = {"run"};
    auto rf = run_flags();
    a.insert(a.end(), rf.begin(), rf.end());
    a.insert(a.end(), flags.begin(), flags.end());
    a.push_back(kImage);
    a.insert(a.end(), argv.begin(), argv.end());
    return podman(a);
  }

  std::string dir_;
  static inline bool libpod_parent_existed_ = true;
  std::string old_cwd_;
  bool var_lib_containers_existed_ = true, cache_existed_ = true;
};

TEST_F(Podman, EchoAndExitCode) {
  Cmd echo = podman_run({"--rm"}, {"echo", "hello from veil"});
  ASSERT_EQ(echo.code, 0) << echo.describe();
  EXPECT_EQ(echo.out, "hello from veil\n") << echo.describe();
  std::cout << "[ MEASURE  ] podman run --rm echo (veil): " << echo.seconds << " s\n";
  Cmd ex = podman_run({"--rm"}, {"sh", "-c", "exit 3"});
  EXPECT_EQ(ex.code, 3) << ex.describe();
  // rlimits reach the process (the values run_flags asks for, or podman's defaults).
  Cmd lim = podman_run({"--rm", "--ulimit", "nofile=1000:1000"}, {"sh", "-c", "ulimit -n"});
  EXPECT_EQ(lim.out, "1000\n") << lim.describe();
}

TEST_F(Podman, VeilIsTheRuntimeAndExecWorks) {
  Cmd r = podman_run({"-d", "--name", "box"}, {"sleep", "1000"});
  ASSERT_EQ(r.code, 0) << r.describe();
  std::string id = r.out.substr(0, r.out.find('\n'));
  Cmd pid = podman({"inspect", "--format", "{{.State.Pid}} {{.OCIRuntime}}", "box"});
  ASSERT_EQ(pid.code, 0) << pid.describe();
  // The container is veil's: its state is in veil's root and veil reports it running.
  Cmd st = run({kVeil, "--root", kVeilRoot, "state", id});
  ASSERT_EQ(st.code, 0) << st.describe();
  EXPECT_NE(st.out.find("\"status\": \"running\""), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("\"pid\": " + pid.out.substr(0, pid.out.find(' '))), std::string::npos)
      << st.out << "\n"
      << pid.out;

  Cmd ex = podman({"exec", "box", "sh", "-c", "echo in-exec; cat /proc/1/cmdline; echo; exit 4"});
  EXPECT_EQ(ex.code, 4) << ex.describe();
  EXPECT_EQ(ex.out, std::string("in-exec\nsleep") + '\0' + "1000" + '\0' + "\n") << ex.describe();
  std::cout << "[ MEASURE  ] podman exec (veil): " << ex.seconds << " s\n";
  Cmd user =
      podman({"exec", "--user", "65534", "--workdir", "/tmp", "box", "sh", "-c", "id -u; pwd"});
  EXPECT_EQ(user.code, 0) << user.describe();
  EXPECT_EQ(user.out, "65534\n/tmp\n") << user.describe();

  Cmd rm = podman({"rm", "-f", "-t", "0", "box"});
  EXPECT_EQ(rm.code, 0) << rm.describe();
  EXPECT_FALSE(exists(kVeilRoot + "/" + id)) << "veil state left after podman rm -f";
}

TEST_F(Podman, MemoryLimitReallyOomKills) {
  Cmd lim = podman_run({"--rm", "--memory", "32m"},
                       {"sh", "-c",
                        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                        "cat /sys/fs/cgroup/memory.max"});
  ASSERT_EQ(lim.code, 0) << lim.describe();
  EXPECT_EQ(lim.out, "33554432\n") << lim.describe();
  Cmd oom = podman_run({"--rm", "--memory", "32m"},
                       {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  EXPECT_EQ(oom.code, 137) << oom.describe();
  Cmd fits = podman_run({"--rm", "--memory", "32m"},
                        {"dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"});
  EXPECT_EQ(fits.code, 0) << fits.describe();
}

TEST_F(Podman, PidsLimitStopsForks) {
  Cmd c =
      podman_run({"--rm", "--pids-limit", "10"},
                 {"sh", "-c",
                  "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
                  "(for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
                  "sleep 30 & done) 2>/dev/null; "
                  "n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; kill -9 -1; echo running=$n"});
  // A failed fork ends busybox sh, hence the subshell; only builtins after it (nothing more
  // could fork). pid 1's `kill -9 -1` kills the sleeps, not itself.
  ASSERT_EQ(c.code, 0) << c.describe();
  std::istringstream in(c.out);
  std::string max, running;
  std::getline(in, max);
  std::getline(in, running);
  EXPECT_EQ(max, "10") << c.describe();
  int n = std::atoi(running.substr(running.find('=') + 1).c_str());
  EXPECT_GT(n, 1) << c.describe();
  EXPECT_LE(n, 10) << c.describe();
}

TEST_F(Podman, CapDrop) {
  Cmd all = podman_run({"--rm"}, {"sh", "-c", "grep CapEff /proc/self/status; chown 65534 /tmp"});
  ASSERT_EQ(all.code, 0) << all.describe();
  Cmd dropped = podman_run({"--rm", "--cap-drop", "CHOWN"},
                           {"sh", "-c", "grep CapEff /proc/self/status; chown 65534 /tmp"});
  EXPECT_NE(dropped.code, 0) << dropped.describe();
  EXPECT_NE(dropped.err.find("Operation not permitted"), std::string::npos) << dropped.describe();
  auto eff = [](const std::string& s) {
    return std::stoull(s.substr(s.find(':') + 1), nullptr, 16);
  };
  ASSERT_NE(all.out.find("CapEff"), std::string::npos);
  ASSERT_NE(dropped.out.find("CapEff"), std::string::npos);
  EXPECT_EQ(eff(all.out) & (1ull << CAP_CHOWN), 1ull << CAP_CHOWN) << all.out;
  EXPECT_EQ(eff(dropped.out), eff(all.out) & ~(1ull << CAP_CHOWN)) << dropped.out;
}

TEST_F(Podman, SeccompProfileReturnsConfiguredErrno) {
  // mkdir/mkdirat fail with EOPNOTSUPP (95): an errno the syscall would never return by itself.
  write(dir_ + "/seccomp.json",
        R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],)"
        R"("syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":95}]})");
  Cmd c = podman_run({"--rm", "--security-opt", "seccomp=" + dir_ + "/seccomp.json"},
                     {"sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d"});
  EXPECT_NE(c.code, 0) << c.describe();
  EXPECT_EQ(c.out, "Seccomp:\t2\n") << c.describe();
  EXPECT_NE(c.err.find("Operation not supported"), std::string::npos) << c.describe();
  Cmd ok = podman_run({"--rm"}, {"mkdir", "/tmp/d"});
  EXPECT_EQ(ok.code, 0) << ok.describe();
}

TEST_F(Podman, Terminal) {
  Cmd c = podman_run({"--rm", "-t"}, {"sh", "-c", "tty; test -t 1 && echo stdout-is-a-tty"});
  ASSERT_EQ(c.code, 0) << c.describe();
  EXPECT_NE(c.out.find("/dev/pts/0"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("stdout-is-a-tty"), std::string::npos) << c.describe();

  // exec -t: conmon passes --tty and --console-socket to `veil exec`.
  ASSERT_EQ(podman_run({"-d", "--name", "tbox"}, {"sleep", "1000"}).code, 0);
  Cmd ex = podman({"exec", "-t", "tbox", "sh", "-c", "tty; test -t 1 && echo exec-is-a-tty"});
  EXPECT_EQ(ex.code, 0) << ex.describe();
  EXPECT_NE(ex.out.find("/dev/pts/"), std::string::npos) << ex.describe();
  EXPECT_NE(ex.out.find("exec-is-a-tty"), std::string::npos) << ex.describe();
  EXPECT_EQ(podman({"rm", "-f", "-t", "0", "tbox"}).code, 0);
}

// org.veil.secrets through Podman: --annotation reaches config.json, conmon passes VEIL_CONFIG
// (containers.conf conmon_env_vars) to `veil create`, which attests to a real veil-kbs (sample
// evidence) and mounts the secret at /run/secrets/<tag>.
TEST_F(Podman, SecretsAnnotationDeliversIntoTheContainer) {
  SampleKbs kbs;
  std::string err = kbs.start(dir_ + "/kbs", "demo/key/token", "podman-s3cret");
  ASSERT_EQ(err, "");
  write(dir_ + "/containers.conf",
        "[engine]\nconmon_env_vars = [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
        "/sbin:/bin\", \"VEIL_CONFIG=" +
            kbs.config_path() + "\"]\n");
  ::setenv("CONTAINERS_CONF", (dir_ + "/containers.conf").c_str(), 1);
  Cmd c = podman_run(
      {"--rm", "--user", "1000:1000", "--annotation", "org.veil.secrets=kbs:///demo/key/token"},
      {"sh", "-c", "stat -c '%a %u %g' /run/secrets/token; cat /run/secrets/token"});
  EXPECT_EQ(c.code, 0) << c.describe();
  EXPECT_EQ(c.out, "400 1000 1000\npodman-s3cret") << c.describe();
  // A resource the KBS does not have: the container is not created, with the KBS's reason.
  Cmd missing =
      podman_run({"--rm", "--annotation", "org.veil.secrets=kbs:///demo/key/missing"}, {"true"});
  ::unsetenv("CONTAINERS_CONF");
  EXPECT_NE(missing.code, 0) << missing.describe();
  EXPECT_NE((missing.out + missing.err).find("HTTP 404"), std::string::npos) << missing.describe();
}

// The guard through Podman: --annotation reaches config.json; conmon passes the guard
// instance's environment (containers.conf conmon_env_vars) to veil.
TEST_F(Podman, GuardAnnotationProtectsTheContainer) {
  GuardDaemon guard(dir_);
  std::string err = guard.start();
  ASSERT_EQ(err, "");
  write(dir_ + "/containers.conf",
        "[engine]\nconmon_env_vars = [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
        "/sbin:/bin\", \"VEIL_GUARD_DIR=" +
            guard.run_dir() + "\", \"VEIL_GUARD_BPFFS=" + guard.bpffs() + "\"]\n");
  ::setenv("CONTAINERS_CONF", (dir_ + "/containers.conf").c_str(), 1);
  Cmd c = podman_run({"--rm", "--name", "guarded", "--annotation", "org.veil.guard.policy=default"},
                     {"sh", "-c",
                      "cp /bin/busybox /tmp/busybox; /tmp/busybox echo DRIFT-RAN; echo rc=$?; "
                      "/bin/busybox echo IMAGE-RAN"});
  ::unsetenv("CONTAINERS_CONF");
  EXPECT_EQ(c.code, 0) << c.describe();
  EXPECT_EQ(c.out.find("DRIFT-RAN"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("rc=126"), std::string::npos) << c.describe();
  EXPECT_NE(c.out.find("IMAGE-RAN"), std::string::npos) << c.describe();
  auto evs = guard.records_with("\"rule\":\"drift\"");
  ASSERT_FALSE(evs.empty()) << "no guard event for the Podman container";
  EXPECT_NE(evs[0].find("\"policy\":\"default\""), std::string::npos) << evs[0];
}

// The microvm handler through Podman: `--runtime veil-vm`. Podman's own bind mounts (/etc/hosts,
// /etc/resolv.conf, /etc/hostname, /run/.containerenv) travel into the guest as copies.
TEST_F(Podman, MicrovmThroughVeilVm) {
  const std::string veil_vm = kVeil + "-vm";
  auto flags = run_flags();
  std::vector<std::string> a = {"run", "--rm"};
  a.insert(a.end(), flags.begin(), flags.end());
  a.insert(a.end(), {kImage, "sh", "-c",
                     "echo kernel=$(uname -r); test -f /run/.containerenv && echo env-ok; exit 4"});
  Cmd r = podman(a, 120000, veil_vm);
  EXPECT_EQ(r.code, 4) << r.describe();
  EXPECT_NE(r.out.find("kernel=6.1.0-"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("env-ok"), std::string::npos) << r.describe();
  std::cout << "[ MEASURE  ] podman run --rm (veil-vm): " << r.seconds << " s\n";
  // A volume (-v): the VM writes to the host's directory (virtio-fs).
  std::string vol = make_temp_dir("veil-podman-vol-");
  std::vector<std::string> v = {"run", "--rm", "-v", vol + ":/data"};
  v.insert(v.end(), flags.begin(), flags.end());
  v.insert(v.end(), {kImage, "sh", "-c", "echo from-the-vm > /data/out"});
  Cmd w = podman(v, 120000, veil_vm);
  EXPECT_EQ(w.code, 0) << w.describe();
  EXPECT_EQ(read(vol + "/out"), "from-the-vm\n") << w.describe();
  std::cout << "[ MEASURE  ] podman run --rm -v (veil-vm, cold boot): " << w.seconds << " s\n";
  remove_tree(vol);
}

}  // namespace
}  // namespace veil::clients
