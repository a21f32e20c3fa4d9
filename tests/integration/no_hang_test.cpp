// Never hang: a container process that stops or dies during setup, or a cgroup that is frozen
// before the container exists, becomes an error naming the step, within a bound, and leaves
// nothing behind.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/file.hpp"
#include "harness.hpp"
#include "seccomp_agent.hpp"

namespace veil::test {
namespace {

using Clock = std::chrono::steady_clock;

// A hook that sends SIG to the container process (its pid is in the state on stdin).
nlohmann::json signal_hook(const char* sig) {
  return {{"path", "/bin/sh"},
          {"args",
           {"sh", "-c",
            std::string("kill -") + sig + " $(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p')"}}};
}

Cmd run_with_timeout(const Veil& v, std::vector<std::string> args, const char* seconds) {
  args.insert(args.begin(), {"env", std::string("VEIL_SETUP_TIMEOUT=") + seconds, VEIL_BINARY,
                             "--root", v.root()});
  return run(args);
}

TEST(NoHang, AContainerProcessStoppedDuringSetupIsATimeoutNamingTheStep) {
  REQUIRE_ROOT();
  Veil v;
  // createRuntime runs while the container process waits for the hooks: it stops it there, so
  // the process never gets past createContainer/pivot_root.
  for (const char* hook_kind : {"createRuntime", "prestart"}) {
    Bundle b({"/bin/true"});
    b.config["hooks"][hook_kind] = {signal_hook("STOP")};
    b.write();
    std::string id = unique_id("stopped");
    auto t0 = Clock::now();
    Cmd c = run_with_timeout(v, {"create", "--bundle", b.dir(), id}, "2");
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_NE(c.code, 0) << hook_kind;
    EXPECT_NE(c.err.find("timed out after 2.0 s waiting for the container process"),
              std::string::npos)
        << c.err;
    EXPECT_NE(c.err.find("pivot_root"), std::string::npos) << c.err;  // the step
    EXPECT_LT(s, 10.0);
    EXPECT_TRUE(nothing_left(v, id, b));
  }
}

TEST(NoHang, AContainerProcessKilledDuringSetupIsAnErrorNamingTheStep) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/true"});
  b.config["hooks"]["createRuntime"] = {signal_hook("KILL")};
  b.write();
  std::string id = unique_id("killed");
  Cmd c = run_with_timeout(v, {"create", "--bundle", b.dir(), id}, "30");
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("container process exited during setup"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

// A seccomp agent that takes the notify fd and never answers: the container process blocks in its
// first notified syscall (capset, in the identity switch after the filter) — for create and for
// exec the wait is bounded, names the step, and kills what it started.
TEST(NoHang, AHungSeccompAgentIsATimeoutForCreateAndExec) {
  REQUIRE_ROOT();
  Veil v;
  SeccompAgent hung(v.root() + "-hung.sock", false);
  nlohmann::json seccomp = {{"defaultAction", "SCMP_ACT_ALLOW"},
                            {"listenerPath", hung.path()},
                            {"syscalls", {{{"names", {"capset"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  Bundle b({"/bin/sleep", "30"});
  b.config["linux"]["seccomp"] = seccomp;
  b.write();
  std::string id = unique_id("hungagent");
  auto t0 = Clock::now();
  Cmd c = run_with_timeout(v, {"create", "--bundle", b.dir(), id}, "2");
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("timed out after 2.0 s"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("the identity switch after loading seccomp filters"), std::string::npos)
      << c.err;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 10.0);
  EXPECT_TRUE(nothing_left(v, id, b));

  // exec into a container whose profile has it (the init itself is not affected: no profile).
  Bundle r({"/bin/sleep", "30"});
  std::string rid = unique_id("hungexec");
  ASSERT_EQ(v({"run", "-d", "--bundle", r.dir(), rid}).code, 0);
  r.config["linux"]["seccomp"] = seccomp;  // exec reads the profile from the bundle
  r.write();
  t0 = Clock::now();
  Cmd e = run_with_timeout(v, {"exec", rid, "/bin/true"}, "2");
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.err.find("timed out after 2.0 s"), std::string::npos) << e.err;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 10.0);
  auto pids = v({"ps", "--format", "json", rid});
  EXPECT_EQ(nlohmann::json::parse(pids.out, nullptr, false).size(), 1u) << pids.out;
  v({"delete", "--force", rid});
}

// A pre-existing frozen cgroup (v1 freezer or v2 cgroup.freeze): refused before anything starts.
TEST(NoHang, AFrozenCgroupIsRefused) {
  REQUIRE_ROOT();
  Veil v;
  std::string name = unique_id("frozen");
  std::vector<std::string> made;
  bool any = false;
  for (const std::string& base :
       {std::string("/sys/fs/cgroup/freezer"), std::string("/sys/fs/cgroup/unified"),
        std::string("/sys/fs/cgroup")}) {
    std::string d = base + "/" + name;
    bool v1 = path_exists(base + "/freezer.state") || base.ends_with("/freezer");
    if (!path_exists(base + (v1 ? "/tasks" : "/cgroup.procs"))) continue;
    if (::mkdir(d.c_str(), 0755) != 0) continue;
    made.push_back(d);
    auto r = write_file(d + (v1 ? "/freezer.state" : "/cgroup.freeze"), v1 ? "FROZEN" : "1");
    any |= r.has_value();
    if (any) break;
  }
  if (!any) {
    for (auto& d : made) ::rmdir(d.c_str());
    GTEST_SKIP() << "no freezer on this host (neither v1 freezer nor cgroup.freeze)";
  }
  Bundle b({"/bin/true"});
  b.config["linux"]["cgroupsPath"] = "/" + name;
  b.write();
  std::string id = unique_id("frozen");
  auto t0 = Clock::now();
  Cmd c = run_with_timeout(v, {"run", "--bundle", b.dir(), id}, "20");
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("cgroup is frozen"), std::string::npos) << c.err;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
  EXPECT_TRUE(nothing_left(v, id, b));
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    bool v1 = it->find("/freezer/") != std::string::npos;
    (void)write_file(*it + (v1 ? "/freezer.state" : "/cgroup.freeze"), v1 ? "THAWED" : "0");
    ::rmdir(it->c_str());
  }
}

// `run -d` under load always learns the container's pid (stage 2 waits for stage 1 to report it:
// the "container process pid unknown" race).
TEST(NoHang, ManyDetachedRunsAtOnceAllStart) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "30"});
  std::vector<std::thread> ts;
  std::vector<Cmd> out(16);
  std::vector<std::string> ids;
  for (size_t i = 0; i < out.size(); ++i) ids.push_back(unique_id("rund"));
  for (size_t i = 0; i < out.size(); ++i)
    ts.emplace_back([&, i] { out[i] = v({"run", "-d", "--bundle", b.dir(), ids[i]}); });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].code, 0) << out[i].err;
    EXPECT_TRUE(wait_status(v, ids[i], "running"));
    v({"delete", "--force", ids[i]});
  }
}

}  // namespace
}  // namespace veil::test
