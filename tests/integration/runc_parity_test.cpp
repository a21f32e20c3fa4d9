// What clients parse: for each state of a container, `kill`, `kill --all`, `kill 0`, `start`,
// `state` and `delete` answer with runc's exit status and the wording containerd's shim looks for
// ("container not running", "does not exist"). Each step runs against runc (the reference,
// installed) and veil on the same bundle, and the answers are compared.
#include <unistd.h>

#include <fstream>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

struct Runtime {
  std::string bin, root;
  Cmd operator()(std::vector<std::string> args) const {
    args.insert(args.begin(), {bin, "--root", root});
    return run(args);
  }
};

TEST(RuncParity, KillDeleteAndStartAnswerAsRuncInEveryState) {
  REQUIRE_ROOT();
  if (::access("/usr/sbin/runc", X_OK) != 0 && ::access("/usr/bin/runc", X_OK) != 0)
    GTEST_SKIP() << "runc is not installed (the reference)";
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  Runtime veil{VEIL_BINARY, v.root()}, runc{"runc", v.root() + "-runc"};
  std::string id = unique_id("parity");
  struct Step {
    std::vector<std::string> args;
    const char* phrase;  // what both must say on stderr ("" = nothing to check)
  };
  auto same = [&](const std::string& when, const Step& s) {
    Cmd a = runc(s.args), c = veil(s.args);
    EXPECT_EQ(c.code, a.code) << when << ": " << testing::PrintToString(s.args)
                              << "\n runc: " << a.err << "\n veil: " << c.err;
    if (*s.phrase) {
      EXPECT_NE(a.err.find(s.phrase), std::string::npos) << when << " (runc): " << a.err;
      EXPECT_NE(c.err.find(s.phrase), std::string::npos) << when << " (veil): " << c.err;
    }
  };
  same("unknown", {{"kill", id, "9"}, "does not exist"});
  same("unknown", {{"kill", "--all", id, "9"}, "does not exist"});
  same("unknown", {{"delete", id}, "does not exist"});
  same("unknown", {{"state", id}, "does not exist"});
  same("unknown", {{"delete", "--force", id}, ""});
  for (auto* r : {&runc, &veil}) ASSERT_EQ((*r)({"create", "--bundle", b.dir(), id}).code, 0);
  same("created", {{"kill", id, "0"}, ""});
  same("created", {{"delete", id}, ""});  // runc deletes a created container
  for (auto* r : {&runc, &veil}) ASSERT_EQ((*r)({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  same("running", {{"kill", id, "0"}, ""});
  same("running", {{"start", id}, ""});
  same("running", {{"delete", id}, ""});
  same("running", {{"kill", id, "KILL"}, ""});
  ASSERT_TRUE(wait_status(v, id, "stopped"));
  for (int i = 0; i < 200; ++i) {
    auto s = runc({"state", id});
    if (s.out.find("\"stopped\"") != std::string::npos) break;
    ::usleep(10000);
  }
  same("stopped", {{"kill", id, "9"}, "container not running"});
  same("stopped", {{"kill", id, "0"}, "container not running"});
  same("stopped", {{"kill", "--all", id, "9"}, ""});  // the shim's reaping step: must succeed
  same("stopped", {{"start", id}, ""});
  same("stopped", {{"delete", id}, ""});
  same("deleted", {{"delete", id}, "does not exist"});
  (void)remove_all(runc.root);
}

// containerd's shim reads the last error of the --log file (json): the phrase must be there.
TEST(RuncParity, TheJsonLogCarriesTheErrorTheShimParses) {
  REQUIRE_ROOT();
  Veil v;
  std::string log = v.root() + "-log.json";
  Bundle b({"/bin/true"});
  std::string id = unique_id("parlog");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  ASSERT_EQ(v({"start", id}).code, 0);
  ASSERT_TRUE(wait_status(v, id, "stopped"));
  Cmd c =
      run({VEIL_BINARY, "--root", v.root(), "--log", log, "--log-format", "json", "kill", id, "9"});
  EXPECT_EQ(c.code, 1);
  auto text = read_file(log).value_or("");
  auto j = nlohmann::json::parse(text.substr(0, text.find('\n')), nullptr, false);
  ASSERT_TRUE(j.is_object()) << text;
  EXPECT_EQ(j["level"], "error");
  EXPECT_NE(j["msg"].get<std::string>().find("container not running"), std::string::npos) << text;
  EXPECT_EQ(v({"delete", id}).code, 0);
  ::unlink(log.c_str());
}

}  // namespace
}  // namespace veil::test
