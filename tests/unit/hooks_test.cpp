#include "runtime/hooks.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/state.hpp"
#include "temp_dir.hpp"

using nlohmann::json;
using veil::oci::Hook;
using veil_test::read_text;
using veil_test::TempDir;
using veil_test::write_text;
namespace hooks = veil::hooks;

namespace {

std::string script(const TempDir& tmp, const std::string& name, const std::string& body) {
  std::string path = tmp / name;
  write_text(path, "#!/bin/sh\n" + body);
  chmod(path.c_str(), 0755);
  return path;
}

Hook make_hook(std::string path, std::vector<std::string> args = {},
               std::vector<std::string> env = {}) {
  Hook h;
  h.path = std::move(path);
  h.args = std::move(args);
  h.env = std::move(env);
  return h;
}

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// True when pid no longer exists or is a zombie, waiting up to 2 s.
bool gone(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    auto close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z')
      return true;
    usleep(10000);
  }
  return false;
}

}  // namespace

TEST(Hooks, RunInOrder) {
  TempDir tmp;
  std::string log = tmp / "order";
  std::string h = script(tmp, "append.sh", "echo \"$1\" >> \"$2\"\n");
  std::vector<Hook> list = {make_hook(h, {"append.sh", "first", log}),
                            make_hook(h, {"append.sh", "second", log}),
                            make_hook(h, {"append.sh", "third", log})};
  auto r = hooks::run(list, "{}", "prestart");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(read_text(log), "first\nsecond\nthird\n");
  EXPECT_EQ(hooks::run({}, "{}", "prestart").has_value(), true);
}

TEST(Hooks, StateJsonOnStdin) {
  TempDir tmp;
  std::string out = tmp / "state.json";
  std::string h = script(tmp, "state.sh", "cat > \"$1\"\n");
  veil::runtime::State st;
  st.oci_version = "1.2.0";
  st.id = "hooked";
  st.pid = 4321;
  st.bundle = "/run/bundles/hooked";
  st.rootfs = "/run/bundles/hooked/rootfs";
  st.annotations = {{"a", "b"}};
  std::string state_json = st.public_json(veil::runtime::Status::creating).dump();
  auto r = hooks::run({make_hook(h, {"state.sh", out})}, state_json, "createRuntime");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  json got = json::parse(read_text(out));
  EXPECT_EQ(got["id"], "hooked");
  EXPECT_EQ(got["status"], "creating");
  EXPECT_EQ(got["pid"], 4321);
  EXPECT_EQ(got["bundle"], "/run/bundles/hooked");
  EXPECT_EQ(got["annotations"]["a"], "b");
  EXPECT_EQ(got, json::parse(state_json));
}

TEST(Hooks, LargeStateAndHookThatDoesNotRead) {
  TempDir tmp;
  std::string big(300 * 1024, 'x');  // far more than a pipe holds
  std::string state_json = json{{"id", "c"}, {"blob", big}}.dump();
  std::string out = tmp / "size";
  std::string reader = script(tmp, "reader.sh", "wc -c > \"$1\"\n");
  std::string ignorer = script(tmp, "ignorer.sh", "exit 0\n");
  auto r = hooks::run({make_hook(ignorer), make_hook(reader, {"reader.sh", out})}, state_json,
                      "poststart");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(std::stoul(read_text(out)), state_json.size());
}

TEST(Hooks, ArgsAndEnv) {
  TempDir tmp;
  std::string out = tmp / "env";
  setenv("VEIL_HOOK_TEST_LEAK", "1", 1);
  std::string h = script(tmp, "env.sh",
                         "printf '%s|%s|%s\\n' \"$#\" \"$1\" \"$2\" > \"$3\"\n"
                         "/usr/bin/env >> \"$3\"\n");
  auto r = hooks::run({make_hook(h, {"ignored-argv0", "one", "two words", out},
                                 {"FOO=bar", "EMPTY=", "WITH_EQ=a=b"})},
                      "{}", "createContainer");
  unsetenv("VEIL_HOOK_TEST_LEAK");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  std::string text = read_text(out);
  EXPECT_EQ(text.substr(0, text.find('\n')), "3|one|two words");
  EXPECT_NE(text.find("\nFOO=bar\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nEMPTY=\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nWITH_EQ=a=b\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("VEIL_HOOK_TEST_LEAK"), std::string::npos) << "runtime env leaked: " << text;
}

TEST(Hooks, Argv0IsArgsZeroOrPath) {
  TempDir tmp;
  // A binary (not a script, whose argv[0] the kernel replaces) shows its argv via /proc.
  std::string out = tmp / "cmdline";
  std::string cmd = "tr '\\0' '\\n' < /proc/$$/cmdline > " + out + "; true";
  auto r = hooks::run({make_hook("/bin/sh", {"custom-argv0", "-c", cmd})}, "{}", "prestart");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(read_text(out), "custom-argv0\n-c\n" + cmd + "\n");

  // No args: argv = {path}. /bin/sh without arguments runs the commands on its stdin, which is
  // the "state" here.
  std::string out2 = tmp / "cmdline2";
  r = hooks::run({make_hook("/bin/sh")}, "tr '\\0' '\\n' < /proc/$$/cmdline > " + out2 + "; true\n",
                 "prestart");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(read_text(out2), "/bin/sh\n");
}

TEST(Hooks, NonZeroExitStopsAndReportsStderr) {
  TempDir tmp;
  std::string marker = tmp / "third-ran";
  std::string ok = script(tmp, "ok.sh", "exit 0\n");
  std::string bad = script(tmp, "bad.sh",
                           "echo 'some output' \necho 'network setup failed: no bridge' >&2\n"
                           "exit 3\n");
  std::string third = script(tmp, "third.sh", "touch \"$1\"\n");
  auto r = hooks::run({make_hook(ok), make_hook(bad), make_hook(third, {"third.sh", marker})}, "{}",
                      "createRuntime");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().msg, "hooks.createRuntime[1] \"" + bad +
                               "\": exited with status 3; stderr: \"network setup failed: no "
                               "bridge\"; stdout: \"some output\"");
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "a hook after the failing one ran";
}

TEST(Hooks, KilledBySignalAndMissingProgram) {
  TempDir tmp;
  std::string seg = script(tmp, "seg.sh", "kill -TERM $$\nsleep 5\n");
  auto r = hooks::run({make_hook(seg)}, "{}", "poststart");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().msg, "hooks.poststart[0] \"" + seg + "\": killed by signal 15 (SIGTERM)");

  std::string missing = tmp / "does-not-exist";
  r = hooks::run({make_hook(missing)}, "{}", "startContainer");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().msg, "hooks.startContainer[0] \"" + missing + "\": cannot run the hook");
  EXPECT_EQ(r.error().err, ENOENT);
}

TEST(Hooks, TimeoutKillsTheHookAndItsChildren) {
  TempDir tmp;
  std::string pids = tmp / "pids";
  std::string h =
      script(tmp, "slow.sh", "sleep 30 &\necho $$ $! > \"$1\"\necho 'about to hang' >&2\nwait\n");
  Hook hook = make_hook(h, {"slow.sh", pids});
  hook.timeout = 1;
  double t0 = now_s();
  auto r = hooks::run({hook}, "{}", "prestart");
  double elapsed = now_s() - t0;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().msg, "hooks.prestart[0] \"" + h +
                               "\": timed out after 1 s (killed); stderr: \"about to hang\"");
  EXPECT_GE(elapsed, 0.9);
  EXPECT_LT(elapsed, 1.5);

  pid_t hook_pid = 0, child_pid = 0;
  std::string text = read_text(pids);
  ASSERT_EQ(sscanf(text.c_str(), "%d %d", &hook_pid, &child_pid), 2) << text;
  // The hook was reaped by run(): the pid no longer exists at all.
  EXPECT_NE(kill(hook_pid, 0), 0);
  EXPECT_EQ(errno, ESRCH);
  // Its background child was killed with it (gone, or a zombie waiting for its new parent).
  EXPECT_TRUE(gone(child_pid));
}

TEST(Hooks, FastHookWithinTimeoutAndBackgroundChildDoesNotBlock) {
  TempDir tmp;
  std::string pidfile = tmp / "bg";
  // Leaves a child holding stdout/stderr open; run() must return when the hook itself exits.
  std::string h = script(tmp, "bg.sh", "sleep 20 &\necho $! > \"$1\"\nexit 0\n");
  Hook hook = make_hook(h, {"bg.sh", pidfile});
  hook.timeout = 10;
  double t0 = now_s();
  auto r = hooks::run({hook}, "{}", "poststart");
  double elapsed = now_s() - t0;
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_LT(elapsed, 2.0);
  pid_t bg = std::atoi(read_text(pidfile).c_str());
  ASSERT_GT(bg, 0);
  EXPECT_EQ(kill(bg, 0), 0) << "a successful hook's background child must be left alone";
  kill(bg, SIGKILL);
}

TEST(Hooks, OutputInErrorsIsBounded) {
  TempDir tmp;
  std::string h = script(tmp, "noisy.sh",
                         "i=0\nwhile [ $i -lt 3000 ]; do echo \"line $i of noise\" >&2; "
                         "i=$((i+1)); done\necho 'the real reason' >&2\nexit 1\n");
  auto r = hooks::run({make_hook(h)}, "{}", "prestart");
  ASSERT_FALSE(r.has_value());
  const std::string& msg = r.error().msg;
  EXPECT_LT(msg.size(), hooks::kOutputLimit + 512);
  EXPECT_NE(msg.find("exited with status 1; stderr: \"..."), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2999 of noise\\nthe real reason\""), std::string::npos) << msg;
}

TEST(Hooks, RunAllLoggedContinuesAfterFailures) {
  TempDir tmp;
  std::string marker = tmp / "after";
  std::string bad = script(tmp, "bad.sh", "echo 'poststop cleanup failed' >&2\nexit 1\n");
  std::string good = script(tmp, "good.sh", "touch \"$1\"\n");
  size_t failed = hooks::run_all_logged(
      {make_hook(bad), make_hook(tmp / "missing"), make_hook(good, {"good.sh", marker})}, "{}",
      "poststop");
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(access(marker.c_str(), F_OK), 0) << "the hook after the failures did not run";
}
