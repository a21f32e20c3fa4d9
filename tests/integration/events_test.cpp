// `veil events`: runc's stats JSON from the container's real cgroup, the interval stream that
// ends when the container stops, OOM events from the kernel, and bad input.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "base/file.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

using nlohmann::ordered_json;

// `veil events …` running in the background; its stdout is read line by line.
class Stream {
 public:
  Stream(const Veil& v, const std::vector<std::string>& args) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(p[1], 1);
      std::vector<std::string> a = {VEIL_BINARY, "--root", v.root()};
      a.insert(a.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    ::close(p[1]);
    fd_ = p[0];
  }
  ~Stream() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  // The next line, or "" at EOF or after timeout_ms.
  std::string next_line(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return "";
      struct pollfd p = {fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) return "";
      char b[65536];
      ssize_t n = ::read(fd_, b, sizeof b);
      if (n <= 0) return "";
      buf_.append(b, static_cast<size_t>(n));
    }
  }
  // Exit code once it exits within timeout_ms, else -1.
  int wait_exit(int timeout_ms) {
    for (int t = 0; t <= timeout_ms; t += 10) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
};

std::vector<std::string> keys(const ordered_json& o) {
  std::vector<std::string> k;
  for (const auto& [key, v] : o.items()) k.push_back(key);
  return k;
}

TEST(Events, StatsOnceHasRuncShapeAndRealUsage) {
  REQUIRE_ROOT();
  // Burn some CPU, then three processes stay: sh and two sleeps.
  Bundle b({"/bin/sh", "-c",
            "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 30 & sleep 31 & "
            "touch /tmp/ready; wait"});
  b.config["linux"]["resources"] = {{"pids", {{"limit", 20}}}, {"memory", {{"limit", 64 << 20}}}};
  b.write();
  Veil v;
  std::string id = unique_id("evstats");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  // Wait until the two sleeps exist.
  for (int i = 0; i < 500; ++i) {
    auto ps = nlohmann::json::parse(v({"ps", "--format", "json", id}).out, nullptr, false);
    if (ps.is_array() && ps.size() == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Cmd c = v({"events", "--stats", id});
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_EQ(std::count(c.out.begin(), c.out.end(), '\n'), 1) << c.out;
  auto e = ordered_json::parse(c.out, nullptr, false);
  ASSERT_TRUE(e.is_object()) << c.out;
  EXPECT_EQ(keys(e), (std::vector<std::string>{"type", "id", "data"}));
  EXPECT_EQ(e["type"], "stats");
  EXPECT_EQ(e["id"], id);
  const auto& d = e["data"];
  EXPECT_EQ(keys(d), (std::vector<std::string>{"cpu", "cpuset", "memory", "pids", "blkio",
                                               "hugetlb", "intel_rdt", "network_interfaces"}));
  EXPECT_EQ(d["pids"]["current"], 3);
  EXPECT_EQ(d["pids"]["limit"], 20);
  EXPECT_EQ(d["memory"]["usage"]["limit"], 64 << 20);
  EXPECT_GT(d["memory"]["usage"]["usage"].get<uint64_t>(), 0u);
  EXPECT_GE(d["memory"]["usage"]["max"].get<uint64_t>(),
            d["memory"]["usage"]["usage"].get<uint64_t>());
  EXPECT_TRUE(d["memory"]["raw"].is_object());
  EXPECT_GT(d["cpu"]["usage"]["total"].get<uint64_t>(), 1'000'000u);  // the loop: > 1 ms
  EXPECT_TRUE(d["cpu"]["usage"].contains("kernel"));
  EXPECT_TRUE(d["network_interfaces"].is_null());
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Events, IntervalStreamEndsWhenTheContainerStops) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.05; done"});
  Veil v;
  std::string id = unique_id("evstream");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Stream s(v, {"events", "--interval", "100ms", id});
  for (int i = 0; i < 3; ++i) {
    auto line = s.next_line(10000);
    auto e = ordered_json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << "line " << i << ": " << line;
    EXPECT_EQ(e["type"], "stats");
    EXPECT_EQ(e["id"], id);
    EXPECT_GE(e["data"]["pids"]["current"].get<int>(), 1);
  }
  EXPECT_EQ(s.wait_exit(0), -1);  // still streaming while the container runs
  ASSERT_EQ(v({"exec", id, "/bin/touch", "/tmp/stop"}).code, 0);
  EXPECT_EQ(s.wait_exit(10000), 0);  // exits by itself once the container's process is gone
  EXPECT_EQ(v({"delete", id}).code, 0);
}

TEST(Events, OomKillIsReported) {
  REQUIRE_ROOT();
  // The hog starts once /tmp/go exists; the shell survives it and then waits for /tmp/stop.
  Bundle b({"/bin/sh", "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.02; done; "
            "dd if=/dev/zero of=/dev/null bs=96M count=1 2>/dev/null; echo rc=$? > /tmp/rc; "
            "while [ ! -e /tmp/stop ]; do sleep 0.02; done"});
  b.config["linux"]["resources"] = {{"memory", {{"limit", 32 << 20}, {"swap", 32 << 20}}}};
  b.write();
  Veil v;
  std::string id = unique_id("evoom");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  // A long interval: the first stats line shows the OOM watch is set up; then only events.
  Stream s(v, {"events", "--interval", "300ms", id});
  ASSERT_FALSE(s.next_line(10000).empty());
  ASSERT_EQ(v({"exec", id, "/bin/touch", "/tmp/go"}).code, 0);
  bool oom = false;
  for (int i = 0; i < 20 && !oom; ++i) {
    auto line = s.next_line(10000);
    if (line.empty()) break;
    auto e = ordered_json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << line;
    if (e["type"] == "oom") {
      oom = true;
      EXPECT_EQ(line, R"({"type":"oom","id":")" + id + R"("})");  // no data, as runc
    }
  }
  EXPECT_TRUE(oom) << "no oom event";
  // The event comes with the kill; the shell writes dd's status a moment later.
  Cmd rc;
  for (int i = 0; i < 250 && rc.out.empty(); ++i) {
    rc = v({"exec", id, "/bin/sh", "-c", "cat /tmp/rc 2>/dev/null"});
    if (rc.out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(rc.out, "rc=137\n");  // the hog really was OOM-killed
  ASSERT_EQ(v({"exec", id, "/bin/touch", "/tmp/stop"}).code, 0);
  EXPECT_EQ(s.wait_exit(10000), 0);
  EXPECT_EQ(v({"delete", id}).code, 0);
}

TEST(Events, BadInputIsRefused) {
  REQUIRE_ROOT();
  Veil v;
  Cmd unknown = v({"events", "--stats", "no-such-container"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("does not exist"), std::string::npos) << unknown.err;
  Cmd noid = v({"events"});
  EXPECT_EQ(noid.code, 2);
  EXPECT_NE(noid.err.find("missing container id"), std::string::npos) << noid.err;
  Bundle b({"/bin/true"});
  std::string id = unique_id("evbad");
  ASSERT_EQ(v({"create", "--bundle", b.dir(), id}).code, 0);
  for (const char* bad : {"0", "-1s", "5", "soon"}) {
    Cmd c = v({"events", "--interval", bad, id});
    EXPECT_EQ(c.code, 2) << bad;
    EXPECT_NE(c.err.find("--interval"), std::string::npos) << c.err;
  }
  // A created container has stats already; a stopped one is refused as runc does.
  EXPECT_EQ(v({"events", "--stats", id}).code, 0);
  ASSERT_EQ(v({"start", id}).code, 0);
  ASSERT_TRUE(wait_status(v, id, "stopped"));
  Cmd stopped = v({"events", "--stats", id});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_NE(stopped.err.find("is not running"), std::string::npos) << stopped.err;
  EXPECT_EQ(v({"delete", id}).code, 0);
}

}  // namespace
}  // namespace veil::test
