// exec: a second process really enters the container (namespaces, cgroup, identity).
#include <unistd.h>

#include <fstream>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

struct Running {
  Veil v;
  Bundle b{{"/bin/sleep", "60"}};
  std::string id = unique_id("exec");
  Running() {
    b.config["hostname"] = "exec-target";
    b.write();
    Cmd c = v({"run", "-d", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 0) << c.err;
  }
  ~Running() { v({"delete", "--force", id}); }
};

TEST(Exec, JoinsTheContainersNamespacesAndCgroup) {
  REQUIRE_ROOT();
  Running r;
  int init_pid = r.v.state(r.id)["pid"];
  Cmd c = r.v({"exec", r.id, "/bin/sh", "-c",
               "hostname; echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
               "readlink /proc/self/ns/net"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("exec-target\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("pid=1\n"), std::string::npos) << c.out;  // not the init, but in its pid ns
  EXPECT_NE(c.out.find("/bin/sleep 60"), std::string::npos) << c.out;
  char buf[64] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(init_pid) + "/ns/net").c_str(), buf, 63), 0);
  EXPECT_NE(c.out.find(buf), std::string::npos) << c.out;
}

TEST(Exec, ExitStatusEnvCwdUser) {
  REQUIRE_ROOT();
  Running r;
  EXPECT_EQ(r.v({"exec", r.id, "/bin/sh", "-c", "exit 9"}).code, 9);
  Cmd c = r.v({"exec", "--env", "X=42", "--cwd", "/etc", "--user", "65534:65534", r.id, "/bin/sh",
               "-c", "echo $X; pwd; id -u; id -g"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "42\n/etc\n65534\n65534\n");
}

TEST(Exec, ProcessFileAndDetachWithPidFile) {
  REQUIRE_ROOT();
  Running r;
  std::string pf = r.b.dir() + "/process.json";
  std::ofstream(pf) << R"({"args": ["/bin/sleep", "7"], "cwd": "/", "env": ["PATH=/bin"],
                          "user": {"uid": 0, "gid": 0}})";
  std::string pid_file = r.b.dir() + "/exec.pid";
  Cmd c = r.v({"exec", "--detach", "--process", pf, "--pid-file", pid_file, r.id});
  ASSERT_EQ(c.code, 0) << c.err;
  auto pid = read_file(pid_file);
  ASSERT_TRUE(pid.has_value());
  auto cmd = read_file("/proc/" + *pid + "/cmdline");
  ASSERT_TRUE(cmd.has_value());
  EXPECT_EQ(*cmd, std::string("/bin/sleep\0007\0", 13));
  // It is in the container's cgroup, so ps lists it.
  EXPECT_NE(r.v({"ps", r.id}).out.find("sleep 7"), std::string::npos);
}

TEST(Exec, CapabilitiesComeFromTheProcessSpec) {
  REQUIRE_ROOT();
  Running r;
  Cmd c = r.v(
      {"exec", "--cap", "CAP_SYS_ADMIN", r.id, "/bin/sh", "-c", "grep CapEff /proc/self/status"});
  ASSERT_EQ(c.code, 0) << c.err;
  // The runc default set (AUDIT_WRITE, KILL, NET_BIND_SERVICE) plus SYS_ADMIN (bit 21).
  EXPECT_EQ(c.out, "CapEff:\t0000000020200420\n");
}

// A failed exec exits 255, as runc (so it cannot be mistaken for the process's own status).
TEST(Exec, ErrorsAreClear) {
  REQUIRE_ROOT();
  Running r;
  Cmd missing = r.v({"exec", r.id, "/no/such/tool"});
  EXPECT_EQ(missing.code, 255);
  EXPECT_NE(missing.err.find("/no/such/tool"), std::string::npos) << missing.err;
  Cmd ghost = r.v({"exec", "ghost", "true"});
  EXPECT_EQ(ghost.code, 255);
  EXPECT_NE(ghost.err.find("does not exist"), std::string::npos) << ghost.err;
  ASSERT_EQ(r.v({"kill", r.id, "KILL"}).code, 0);
  ASSERT_TRUE(wait_status(r.v, r.id, "stopped"));
  Cmd stopped = r.v({"exec", r.id, "true"});
  EXPECT_EQ(stopped.code, 255);
  EXPECT_NE(stopped.err.find("stopped"), std::string::npos) << stopped.err;
}

}  // namespace
}  // namespace veil::test
