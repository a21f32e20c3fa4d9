// The runc lifecycle through the CLI: create → created → start → running → stopped → delete,
// signals, forced deletes, and errors that leave nothing behind.
#include <unistd.h>

#include <fstream>
#include <thread>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

TEST(Lifecycle, CreateStartStopDelete) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "read line < /tmp/go 2>/dev/null; sleep 0.3"});
  Veil v;
  std::string id = unique_id("life");
  std::string pid_file = b.dir() + "/pid";
  Cmd c = v({"create", "--bundle", b.dir(), "--pid-file", pid_file, id});
  ASSERT_EQ(c.code, 0) << c.err;
  auto st = v.state(id);
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["status"], "created");
  EXPECT_EQ(st["id"], id);
  EXPECT_EQ(st["bundle"], b.dir());
  EXPECT_EQ(st["rootfs"], rootfs());
  EXPECT_TRUE(st["ociVersion"].is_string());
  EXPECT_TRUE(st["created"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(st["owner"], "root");
  auto pid_text = read_file(pid_file);
  ASSERT_TRUE(pid_text.has_value());
  EXPECT_EQ(std::stoi(*pid_text), st["pid"].get<int>());
  // The process exists but has not run the program yet: its command is still veil.
  auto comm = read_file("/proc/" + *pid_text + "/comm");
  ASSERT_TRUE(comm.has_value());
  EXPECT_EQ(*comm, "veil\n");

  ASSERT_EQ(v({"start", id}).code, 0);
  EXPECT_TRUE(wait_status(v, id, "running", 2000));
  EXPECT_TRUE(wait_status(v, id, "stopped", 5000));
  EXPECT_EQ(v.state(id)["pid"], 0);
  Cmd s2 = v({"start", id});
  EXPECT_NE(s2.code, 0);
  EXPECT_NE(s2.err.find("stopped"), std::string::npos) << s2.err;
  ASSERT_EQ(v({"delete", id}).code, 0);
  Cmd gone = v({"state", id});
  EXPECT_NE(gone.code, 0);
  EXPECT_NE(gone.err.find("does not exist"), std::string::npos) << gone.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Lifecycle, RunReturnsContainerExitStatus) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "echo out; echo err >&2; exit 7"});
  Veil v;
  std::string id = unique_id("exit");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 7);
  EXPECT_EQ(c.out, "out\n");
  EXPECT_EQ(c.err, "err\n");
  EXPECT_TRUE(nothing_left(v, id, b));  // run deletes the container when it exits
}

TEST(Lifecycle, RunStdinIsInherited) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "tr a-z A-Z"});
  Veil v;
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("stdin")}, "quiet please\n");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "QUIET PLEASE\n");
}

TEST(Lifecycle, KillBySignalNameAndNumber) {
  REQUIRE_ROOT();
  Veil v;
  for (std::string sig : {"KILL", "SIGKILL", "9", "sigkill"}) {
    Bundle b({"/bin/sleep", "100"});
    std::string id = unique_id("kill");
    ASSERT_EQ(v({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
    EXPECT_TRUE(wait_status(v, id, "running", 2000));
    Cmd k = v({"kill", id, sig});
    ASSERT_EQ(k.code, 0) << sig << ": " << k.err;
    EXPECT_TRUE(wait_status(v, id, "stopped", 5000)) << sig;
    EXPECT_EQ(v({"delete", id}).code, 0);
    EXPECT_TRUE(nothing_left(v, id, b));
  }
}

TEST(Lifecycle, KillTermReachesHandler) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c",
            "trap 'echo got-term > /tmp/t; exit 3' TERM; while :; do sleep 0.05; done"});
  Veil v;
  std::string id = unique_id("term");
  ASSERT_EQ(v({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  ASSERT_TRUE(wait_status(v, id, "running", 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(v({"kill", id, "TERM"}).code, 0);
  EXPECT_TRUE(wait_status(v, id, "stopped", 5000));
  EXPECT_EQ(v({"delete", id}).code, 0);
}

TEST(Lifecycle, KillAllSignalsEveryProcess) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "sleep 100 & sleep 100 & wait"});
  Veil v;
  std::string id = unique_id("killall");
  ASSERT_EQ(v({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  ASSERT_TRUE(wait_status(v, id, "running", 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(v({"kill", "--all", id, "KILL"}).code, 0);
  EXPECT_TRUE(wait_status(v, id, "stopped", 5000));
  EXPECT_EQ(v({"delete", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Lifecycle, KillUnknownSignalFails) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "100"});
  Veil v;
  std::string id = unique_id("badsig");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  Cmd k = v({"kill", id, "SIGNOPE"});
  EXPECT_NE(k.code, 0);
  EXPECT_NE(k.err.find("unknown signal \"SIGNOPE\""), std::string::npos) << k.err;
  EXPECT_EQ(v({"delete", id}).code, 0);  // a created container can be deleted
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Lifecycle, DeleteRunningNeedsForce) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "sleep 100 & sleep 100"});
  Veil v;
  std::string id = unique_id("force");
  ASSERT_EQ(v({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  ASSERT_TRUE(wait_status(v, id, "running", 2000));
  Cmd d = v({"delete", id});
  EXPECT_NE(d.code, 0);
  EXPECT_NE(d.err.find("running"), std::string::npos) << d.err;
  EXPECT_TRUE(wait_status(v, id, "running", 100));
  Cmd f = v({"delete", "--force", id});
  EXPECT_EQ(f.code, 0) << f.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Lifecycle, ForceDeleteOfUnknownIdSucceeds) {
  REQUIRE_ROOT();
  Veil v;
  EXPECT_EQ(v({"delete", "--force", "never-existed"}).code, 0);
  Cmd d = v({"delete", "never-existed"});
  EXPECT_EQ(d.code, 1);
  EXPECT_NE(d.err.find("container \"never-existed\" does not exist"), std::string::npos) << d.err;
}

TEST(Lifecycle, DuplicateIdRejected) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "100"});
  Veil v;
  std::string id = unique_id("dup");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  auto before = v.state(id);
  Cmd c = v({"create", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("container \"" + id + "\" already exists"), std::string::npos) << c.err;
  // The first container is untouched.
  EXPECT_EQ(v.state(id), before);
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Lifecycle, UnknownIdErrors) {
  REQUIRE_ROOT();
  Veil v;
  for (std::string cmd : {"start", "state", "kill", "delete"}) {
    Cmd c = v({cmd, "ghost"});
    EXPECT_EQ(c.code, 1) << cmd;
    EXPECT_NE(c.err.find("container \"ghost\" does not exist"), std::string::npos) << cmd << c.err;
  }
  Cmd bad = v({"state", "../etc"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("invalid container id"), std::string::npos) << bad.err;
}

TEST(Lifecycle, BadBundleAndMalformedConfigLeaveNothing) {
  REQUIRE_ROOT();
  Veil v;
  {
    std::string id = unique_id("nobundle");
    Bundle b({"/bin/true"});
    Cmd c = v({"create", "--bundle", "/nonexistent/bundle", id});
    EXPECT_EQ(c.code, 1);
    EXPECT_NE(c.err.find("/nonexistent/bundle"), std::string::npos) << c.err;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
  {
    std::string id = unique_id("badjson");
    Bundle b({"/bin/true"});
    std::ofstream(b.dir() + "/config.json") << "{\"ociVersion\": \"1.0.2\", \"root\": ";
    Cmd c = v({"create", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 1);
    EXPECT_NE(c.err.find("malformed JSON"), std::string::npos) << c.err;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
  {
    std::string id = unique_id("badns");
    Bundle b({"/bin/true"});
    b.config["linux"]["namespaces"].push_back({{"type", "foo"}});
    b.write();
    Cmd c = v({"create", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 1);
    EXPECT_NE(c.err.find("unknown namespace \"foo\""), std::string::npos) << c.err;
    EXPECT_NE(c.err.find("linux.namespaces["), std::string::npos) << c.err;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
  {
    // Fails late, inside the container's setup: still nothing left.
    std::string id = unique_id("noexe");
    Bundle b({"/no/such/program"});
    Cmd c = v({"create", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 1);
    EXPECT_NE(c.err.find("/no/such/program"), std::string::npos) << c.err;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
  {
    std::string id = unique_id("badmount");
    Bundle b({"/bin/true"});
    b.config["mounts"].push_back({{"destination", "/x"},
                                  {"type", "bind"},
                                  {"source", "/does/not/exist"},
                                  {"options", {"bind"}}});
    b.write();
    Cmd c = v({"create", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 1);
    EXPECT_NE(c.err.find("/does/not/exist"), std::string::npos) << c.err;
    EXPECT_TRUE(nothing_left(v, id, b));
  }
  EXPECT_TRUE(v.StateStoreIds().empty());
}

TEST(Lifecycle, ListTableJsonQuiet) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/sleep", "100"});
  std::string a = unique_id("lista"), c2 = unique_id("listb");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), a}).code, 0);
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), c2}).code, 0);
  Cmd q = v({"list", "-q"});
  EXPECT_EQ(q.out, a + "\n" + c2 + "\n");
  Cmd j = v({"list", "--format", "json"});
  auto arr = nlohmann::json::parse(j.out);
  ASSERT_EQ(arr.size(), 2u);
  EXPECT_EQ(arr[0]["status"], "created");
  EXPECT_EQ(arr[1]["status"], "running");
  Cmd t = v({"list"});
  EXPECT_NE(t.out.find("ID"), std::string::npos);
  EXPECT_NE(t.out.find(c2), std::string::npos);
  EXPECT_EQ(v({"delete", "-f", a}).code, 0);
  EXPECT_EQ(v({"delete", "-f", c2}).code, 0);
  EXPECT_EQ(v({"list", "-q"}).out, "");
}

TEST(Lifecycle, JsonLogCarriesTheError) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/true"});
  std::string log = b.dir() + "/log.json";
  Cmd c = v({"--log", log, "--log-format", "json", "start", "ghost"});
  ASSERT_EQ(c.code, 1);
  auto text = read_file(log);
  ASSERT_TRUE(text.has_value());
  auto last = text->substr(0, text->size() - 1);
  last = last.substr(last.rfind('\n') + 1);
  auto j = nlohmann::json::parse(last);
  EXPECT_EQ(j["level"], "error");
  EXPECT_NE(j["msg"].get<std::string>().find("does not exist"), std::string::npos);
  EXPECT_TRUE(j["time"].is_string());
}

TEST(Lifecycle, SpecAndFeatures) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/true"});
  std::string dir = b.dir() + "/fresh";
  ASSERT_TRUE(mkdir_all(dir).has_value());
  ASSERT_EQ(v({"spec", "--bundle", dir}).code, 0);
  auto spec = nlohmann::json::parse(*read_file(dir + "/config.json"));
  EXPECT_EQ(spec["root"]["path"], "rootfs");
  Cmd again = v({"spec", "--bundle", dir});
  EXPECT_NE(again.code, 0);  // never overwrites
  auto f = nlohmann::json::parse(v({"features"}).out);
  EXPECT_EQ(f["ociVersionMin"], "1.0.0");
  EXPECT_TRUE(f["linux"]["namespaces"].is_array());
  Cmd ver = v({"--version"});
  EXPECT_EQ(ver.code, 0);
  EXPECT_NE(ver.out.find("veil version"), std::string::npos);
}

TEST(Lifecycle, ConcurrentStartsRunTheProcessOnce) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "echo ran >> /tmp/count; sleep 0.2"});
  Veil v;
  std::string id = unique_id("race");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  Cmd r1, r2;
  std::thread t1([&] { r1 = v({"start", id}); });
  std::thread t2([&] { r2 = v({"start", id}); });
  t1.join();
  t2.join();
  // Exactly one start wins; the other is told the container is no longer "created".
  EXPECT_EQ((r1.code == 0) + (r2.code == 0), 1) << r1.err << r2.err;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

}  // namespace
}  // namespace veil::test
