// runc's CVE history, attacked for real against veil: each test is the public technique, run from
// inside a container (or by a careless caller), and asserts that it got nothing.
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/file.hpp"
#include "harness.hpp"
#include "seccomp_agent.hpp"

namespace veil::test {
namespace {

// A host directory bind-mounted read-write at /tmp/out in the container (results, markers).
std::string add_out_mount(Bundle& b) {
  std::string dir = b.dir() + "/out";
  ::mkdir(dir.c_str(), 0777);
  b.config["mounts"].push_back({{"destination", "/tmp/out"},
                                {"type", "bind"},
                                {"source", dir},
                                {"options", {"rbind", "rw"}}});
  b.write();
  return dir;
}

// Removes a path when the test ends, passed or failed.
struct Cleanup {
  std::string path;
  ~Cleanup() { (void)remove_all(path); }
};

// The runtime under attack: a private copy of veil, so that a successful attack cannot break the
// build; `before` holds its bytes.
struct RuntimeCopy {
  Cleanup gone;
  std::string before;
  explicit RuntimeCopy(const Veil& v) : gone{v.root() + "-veil"} {
    if (run({"cp", VEIL_BINARY, gone.path}).code == 0) before = read_file(gone.path).value_or("");
  }
};

bool wait_file(const std::string& path, const std::string& needle, int timeout_ms) {
  for (int t = 0; t < timeout_ms; t += 20) {
    auto s = read_file(path);
    if (s && s->find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Runs in a container: finds a veil process among its pids, opens its /proc/<pid>/exe, waits for
// /tmp/out/go (the veil process is gone by then), writes through the fd; reports in
// /tmp/out/result.
const std::string kExeAttack = R"(
    i=0
    while [ $i -lt 40 ] && [ ! -e /tmp/out/result ]; do
      for p in /proc/[0-9]*; do
        t=$(readlink $p/exe 2>/dev/null) || continue
        case "$t" in
          *veil*) if exec 3<$p/exe; then echo "opened $t" > /tmp/out/result;
                  else echo "open-denied $t" > /tmp/out/result; fi; break;;
        esac
      done
      i=$((i+1)); sleep 0.05
    done
    [ -e /tmp/out/result ] || echo "no-veil-process-reachable" > /tmp/out/result
    echo scanned >> /tmp/out/result
    while [ ! -e /tmp/out/go ]; do sleep 0.05; done
    if (echo PWNED > /proc/self/fd/3) 2>/dev/null; then echo written >> /tmp/out/result;
    else echo write-failed >> /tmp/out/result; fi
    echo done >> /tmp/out/result
)";

// CVE-2019-5736 through a shared pid namespace (Kubernetes shareProcessNamespace): container A
// looks for a veil process among its pids — B's init, waiting for `start` in A's pid namespace —
// opens its /proc/<pid>/exe, and once B has started writes through that fd. Against a runtime
// that runs from its host binary this rewrites the binary (runc before 1.0-rc6).
TEST(Cve2019_5736, ASharedPidNamespaceCannotRewriteTheRuntime) {
  REQUIRE_ROOT();
  Veil v;
  RuntimeCopy copy(v);
  ASSERT_FALSE(copy.before.empty());
  const std::string& runtime = copy.gone.path;
  auto veil = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {runtime, "--root", v.root()});
    return run(args);
  };
  Bundle a({"/bin/sh", "-c", kExeAttack});
  std::string out = add_out_mount(a);
  std::string ida = unique_id("cve5736a"), idb = unique_id("cve5736b");
  ASSERT_EQ(veil({"run", "-d", "--bundle", a.dir(), ida}).code, 0);
  auto sa = v.state(ida);
  ASSERT_TRUE(sa.is_object());
  Bundle b({"/bin/true"});
  for (auto& ns : b.config["linux"]["namespaces"])
    if (ns["type"] == "pid")
      ns["path"] = "/proc/" + std::to_string(sa["pid"].get<int>()) + "/ns/pid";
  b.write();
  Cmd cb = veil({"create", "--bundle", b.dir(), idb});
  ASSERT_EQ(cb.code, 0) << cb.err;
  ASSERT_TRUE(wait_file(out + "/result", "scanned", 20000));
  ASSERT_EQ(veil({"start", idb}).code, 0);
  ASSERT_TRUE(wait_status(v, idb, "stopped"));
  ASSERT_TRUE(write_file_atomic(out + "/go", "1"));
  ASSERT_TRUE(wait_file(out + "/result", "done", 10000));
  std::string result = read_file(out + "/result").value_or("");
  EXPECT_EQ(result.find("written"), std::string::npos) << result;
  EXPECT_EQ(result.find("opened"), std::string::npos) << result;
  EXPECT_EQ(read_file(runtime).value_or(""), copy.before) << "the runtime binary was rewritten";
  veil({"delete", "--force", ida});
  veil({"delete", "--force", idb});
}

// CVE-2019-5736 through `veil exec`: the exec'd process is held in its identity switch by a
// seccomp agent that never answers (capset is notified), a veil process inside the container's pid
// namespace for as long as the attacker needs; once it is gone, the attacker writes.
TEST(Cve2019_5736, AnExecInProgressCannotBeUsedToRewriteTheRuntime) {
  REQUIRE_ROOT();
  Veil v;
  RuntimeCopy copy(v);
  ASSERT_FALSE(copy.before.empty());
  const std::string& runtime = copy.gone.path;
  SeccompAgent hung(v.root() + "-hung.sock", false);
  Bundle a({"/bin/sh", "-c", kExeAttack});
  std::string out = add_out_mount(a);
  std::string id = unique_id("cve5736x");
  ASSERT_EQ(run({runtime, "--root", v.root(), "run", "-d", "--bundle", a.dir(), id}).code, 0);
  a.config["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"listenerPath", hung.path()},
      {"syscalls", {{{"names", {"capset"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  a.write();  // `exec` takes the profile from the bundle: only the exec'd process gets it
  std::string pidns =
      read_link("/proc/" + std::to_string(v.state(id)["pid"].get<int>()) + "/ns/pid");
  Cmd e;
  std::thread exec([&] {
    e = run({"env", "VEIL_SETUP_TIMEOUT=4", runtime, "--root", v.root(), "exec", id, "/bin/true"});
  });
  // The window is real: a veil process sits in the container's pid namespace.
  bool window = false;
  for (int i = 0; i < 300 && !window; ++i) {
    if (DIR* d = ::opendir("/proc")) {
      while (auto* ent = ::readdir(d)) {
        std::string base = std::string("/proc/") + ent->d_name;
        if (read_file(base + "/comm").value_or("") == "veil\n" &&
            read_link(base + "/ns/pid") == pidns)
          window = true;
      }
      ::closedir(d);
    }
    if (!window) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  exec.join();
  EXPECT_TRUE(window) << "no veil process was ever inside the container's pid namespace";
  EXPECT_NE(e.code, 0);  // timed out in the identity switch, killed
  ASSERT_TRUE(wait_file(out + "/result", "scanned", 20000));
  ASSERT_TRUE(write_file_atomic(out + "/go", "1"));
  ASSERT_TRUE(wait_file(out + "/result", "done", 10000));
  std::string result = read_file(out + "/result").value_or("");
  EXPECT_EQ(result.find("written"), std::string::npos) << result;
  EXPECT_EQ(result.find("opened"), std::string::npos) << result;
  EXPECT_EQ(read_file(runtime).value_or(""), copy.before) << "the runtime binary was rewritten";
  run({runtime, "--root", v.root(), "delete", "--force", id});
}

// The process that enters a container never runs from the host binary: it runs from a read-only
// overlay of veil's directory (or a sealed memfd copy where that cannot be mounted), so even the
// host's root cannot write through its /proc/<pid>/exe.
TEST(Cve2019_5736, TheContainerInitRunsFromAReadOnlyView) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/true"});
  std::string id = unique_id("sealed");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  auto st = v.state(id);
  ASSERT_TRUE(st.is_object());
  std::string exe = "/proc/" + std::to_string(st["pid"].get<int>()) + "/exe";
  std::string link = read_link(exe);
  char host[4096];
  ASSERT_TRUE(::realpath(VEIL_BINARY, host));
  EXPECT_NE(link, host);
  int fd = ::open(exe.c_str(), O_WRONLY);
  int err = errno;
  EXPECT_LT(fd, 0);
  if (fd >= 0) ::close(fd);
  if (!link.starts_with("/memfd:veil")) {
    EXPECT_EQ(err, EROFS) << link;
  }
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
}

// CVE-2024-21626: a directory fd leaked by the caller (no close-on-exec) used as the container's
// working directory, /proc/self/fd/N, reaches the host's filesystem.
TEST(Cve2024_21626, ALeakedDirectoryFdIsNoWayOut) {
  REQUIRE_ROOT();
  Veil v;
  std::string host_dir = v.root() + "-hostdir";
  Cleanup gone{host_dir};
  ASSERT_EQ(::mkdir(host_dir.c_str(), 0755), 0);
  ASSERT_TRUE(write_file_atomic(host_dir + "/host-secret", "top secret\n"));
  // The container reads the secret and drops a file next to it, relative to its cwd.
  Bundle b({"/bin/sh", "-c", "cat host-secret; echo pwned > escaped"});
  b.config["process"]["cwd"] = "/proc/self/fd/7";
  b.write();
  auto leak = [&](const std::string& args) {
    return sh("exec 7<" + host_dir + "; exec " + VEIL_BINARY + " --root " + v.root() + " " + args);
  };
  // Leaked (not in the preserved range): closed before the container resolves anything.
  Cmd c1 = leak("run --bundle " + b.dir() + " " + unique_id("cwdleak"));
  EXPECT_NE(c1.code, 0);
  EXPECT_EQ(c1.out.find("top secret"), std::string::npos) << c1.out;
  EXPECT_NE(c1.err.find("process.cwd /proc/self/fd/7"), std::string::npos) << c1.err;
  // Passed on on purpose (--preserve-fds 5 covers fds 3..7): still no way out of the root.
  Cmd c2 = leak("run --preserve-fds 5 --bundle " + b.dir() + " " + unique_id("cwdleak"));
  EXPECT_NE(c2.code, 0);
  EXPECT_EQ(c2.out.find("top secret"), std::string::npos) << c2.out;
  EXPECT_NE(c2.err.find("outside the container's root"), std::string::npos) << c2.err;
  // exec --cwd with a leaked fd.
  Bundle r({"/bin/sleep", "30"});
  std::string id = unique_id("cwdexec");
  ASSERT_EQ(v({"run", "-d", "--bundle", r.dir(), id}).code, 0);
  Cmd c3 = leak("exec --cwd /proc/self/fd/7 " + id + " /bin/sh -c 'cat host-secret; echo x > e'");
  EXPECT_NE(c3.code, 0);
  EXPECT_EQ(c3.out.find("top secret"), std::string::npos) << c3.out;
  Cmd c4 = leak("exec --preserve-fds 5 --cwd /proc/self/fd/7 " + id + " /bin/cat host-secret");
  EXPECT_NE(c4.code, 0);
  EXPECT_EQ(c4.out.find("top secret"), std::string::npos) << c4.out;
  EXPECT_FALSE(path_exists(host_dir + "/escaped"));
  EXPECT_FALSE(path_exists(host_dir + "/e"));
  v({"delete", "--force", id});
}

// CVE-2022-29162: `exec --cap` must not put the capability into the inheritable (or ambient) set
// of a non-root process, where it would survive the execve of any program it runs.
TEST(Cve2022_29162, ExecCapStaysOutOfInheritableAndAmbient) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  b.write();
  std::string id = unique_id("capinh");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd c = v({"exec", "--cap", "CAP_NET_ADMIN", id, "/bin/grep", "-E", "^Cap(Inh|Amb)",
             "/proc/self/status"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("CapInh:\t0000000000000000"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("CapAmb:\t0000000000000000"), std::string::npos) << c.out;
  v({"delete", "--force", id});
}

// Every process veil starts gets a session keyring of the container's own ("_ses.<id>"), not the
// caller's: a key the caller holds in its session keyring is out of reach (unless
// --no-new-keyring, where the container keeps the caller's).
TEST(SessionKeyring, InitAndExecDoNotSeeTheCallersKeys) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  ASSERT_EQ(run({"cp", VEIL_PROBE_BINARY, b.dir() + "/probe"}).code, 0);
  b.config["mounts"].push_back({{"destination", "/tmp/probe"},
                                {"type", "bind"},
                                {"source", b.dir() + "/probe"},
                                {"options", {"bind", "ro"}}});
  b.write();
  const std::string marker = "veil-test-host-key";
  auto with_key = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {VEIL_PROBE_BINARY, "session-key", marker, "--", VEIL_BINARY, "--root", v.root()});
    return run(args);
  };
  std::string id = unique_id("keyring");
  ASSERT_EQ(with_key({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd c = with_key({"exec", id, "/tmp/probe", "keyring", marker});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("_ses." + id), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("marker=absent"), std::string::npos) << c.out;
  // The init too.
  Bundle i({"/tmp/probe", "keyring", marker});
  i.config["mounts"] = b.config["mounts"];
  i.write();
  std::string id2 = unique_id("keyring");
  Cmd ci = with_key({"run", "--bundle", i.dir(), id2});
  EXPECT_NE(ci.out.find("_ses." + id2), std::string::npos) << ci.out << ci.err;
  EXPECT_NE(ci.out.find("marker=absent"), std::string::npos) << ci.out;
  // The control: with --no-new-keyring the init keeps the caller's keyring, key included.
  Cmd cn = with_key({"run", "--no-new-keyring", "--bundle", i.dir(), unique_id("keyring")});
  EXPECT_NE(cn.out.find("marker=found"), std::string::npos) << cn.out << cn.err;
  v({"delete", "--force", id});
}

}  // namespace
}  // namespace veil::test
