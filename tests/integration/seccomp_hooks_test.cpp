// seccomp profiles and OCI hooks through real containers.
#include <unistd.h>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

nlohmann::json errno_profile(const std::vector<std::string>& names, int err) {
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
          {"syscalls", {{{"names", names}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", err}}}}};
}

TEST(ContainerSeccomp, ProfileReturnsTheConfiguredErrno) {
  REQUIRE_ROOT();
  for (bool nnp : {true, false}) {
    Bundle b({"/bin/sh", "-c", "mkdir /tmp/d && echo made; echo still-running"});
    b.config["process"]["noNewPrivileges"] = nnp;
    b.config["linux"]["seccomp"] = errno_profile({"mkdir", "mkdirat"}, 38);  // ENOSYS
    b.write();
    Veil v;
    Cmd c = v({"run", "--bundle", b.dir(), unique_id("seccomp")});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(c.out, "still-running\n") << "noNewPrivileges=" << nnp;
    EXPECT_NE(c.err.find("Function not implemented"), std::string::npos) << c.err;
  }
}

TEST(ContainerSeccomp, ExecProcessesGetTheProfileToo) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "30"});
  b.config["linux"]["seccomp"] = errno_profile({"mkdir", "mkdirat"}, 13);  // EACCES
  b.write();
  Veil v;
  std::string id = unique_id("secexec");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd c = v({"exec", id, "/bin/mkdir", "/tmp/x"});
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("Permission denied"), std::string::npos) << c.err;
  EXPECT_EQ(v({"delete", "-f", id}).code, 0);
}

TEST(ContainerSeccomp, InvalidProfileNamesThePathAndLeavesNothing) {
  REQUIRE_ROOT();
  Bundle b({"/bin/true"});
  b.config["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_NOPE"}}}}};
  b.write();
  Veil v;
  std::string id = unique_id("badsec");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("linux.seccomp.syscalls[0].action"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

nlohmann::json logging_hook(const std::string& phase, const std::string& log) {
  return {{"path", "/bin/sh"},
          {"args",
           {"sh", "-c",
            "printf '%s %s\\n' " + phase + " \"$(grep -o '\"status\":\"[a-z]*\"')\" >> " + log}}};
}

TEST(ContainerHooks, RunInOrderWithTheStateTheyShouldSee) {
  REQUIRE_ROOT();
  Bundle b({"/bin/true"});
  std::string log = b.dir() + "/hooks.log";
  std::string inside = b.dir() + "/inside";
  ASSERT_TRUE(mkdir_all(inside).has_value());
  b.config["mounts"].push_back(
      {{"destination", "/hooklog"}, {"type", "bind"}, {"source", inside}, {"options", {"rbind"}}});
  b.config["hooks"] = {
      {"prestart", {logging_hook("prestart", log)}},
      {"createRuntime", {logging_hook("createRuntime", log)}},
      {"createContainer", {logging_hook("createContainer", log)}},
      // Runs inside the container after pivot_root: only the container's paths exist.
      {"startContainer",
       {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > /hooklog/start.json"}}}}},
      {"poststart", {logging_hook("poststart", log)}},
      {"poststop", {logging_hook("poststop", log)}}};
  b.write();
  Veil v;
  std::string id = unique_id("hooks");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  ASSERT_EQ(v({"start", id}).code, 0);
  ASSERT_TRUE(wait_status(v, id, "stopped"));
  ASSERT_EQ(v({"delete", id}).code, 0);
  EXPECT_EQ(read_file(log).value_or(""),
            "prestart \"status\":\"creating\"\n"
            "createRuntime \"status\":\"creating\"\n"
            "createContainer \"status\":\"creating\"\n"
            "poststart \"status\":\"running\"\n"
            "poststop \"status\":\"stopped\"\n");
  auto start = nlohmann::json::parse(read_file(inside + "/start.json").value_or("null"));
  ASSERT_TRUE(start.is_object());
  EXPECT_EQ(start["status"], "created");
  EXPECT_EQ(start["id"], id);
  EXPECT_GT(start["pid"].get<int>(), 0);
}

TEST(ContainerHooks, FailingCreateRuntimeHookAbortsCreateAndLeavesNothing) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "10"});
  b.config["hooks"] = {
      {"createRuntime",
       {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo network setup failed >&2; exit 3"}}}}}};
  b.write();
  Veil v;
  std::string id = unique_id("hookfail");
  Cmd c = v({"create", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("createRuntime"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("network setup failed"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(ContainerHooks, FailingPoststopIsLoggedNotFatal) {
  REQUIRE_ROOT();
  Bundle b({"/bin/true"});
  b.config["hooks"] = {{"poststop", {{{"path", "/bin/false"}}}}};
  b.write();
  Veil v;
  std::string id = unique_id("poststop");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

}  // namespace
}  // namespace veil::test
