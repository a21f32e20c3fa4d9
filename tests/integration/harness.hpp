// Integration-test harness: a busybox rootfs built once, a bundle per test with a config.json
// written from veil's default spec, the veil binary run as a separate process, and checks that a
// container left nothing behind.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace veil::test {

struct Cmd {
  int code = -1;
  std::string out, err;
};

// Runs argv (no shell); stdin from /dev/null unless in is given.
Cmd run(const std::vector<std::string>& argv, const std::string& in = "");
// Runs /bin/sh -c.
Cmd sh(const std::string& script);

// The shared busybox rootfs (built on first use by scripts/make-bundle.sh).
const std::string& rootfs();

class Bundle {
 public:
  explicit Bundle(std::vector<std::string> args);
  ~Bundle();
  nlohmann::json config;  // edit, then write()
  void write() const;
  const std::string& dir() const { return dir_; }
  std::string tag() const { return tag_; }  // VEIL_TEST_TAG=<tag> is in the env

 private:
  std::string dir_, tag_;
};

class Veil {
 public:
  Veil();
  ~Veil();
  Cmd operator()(std::vector<std::string> args, const std::string& in = "") const;
  const std::string& root() const { return root_; }
  std::vector<std::string> StateStoreIds() const;
  nlohmann::json state(const std::string& id) const;

 private:
  std::string root_;
};

std::string unique_id(const std::string& prefix);
// True when nothing of container `id` remains: state dir, cgroup dirs, mounts of the bundle,
// processes tagged with the bundle's tag.
::testing::AssertionResult nothing_left(const Veil& v, const std::string& id, const Bundle& b);
// Waits up to timeout_ms for `veil state` to report status.
bool wait_status(const Veil& v, const std::string& id, const std::string& status,
                 int timeout_ms = 5000);

// Accepts one connection on listener and receives one fd (runc's console-socket protocol: the
// pty master as SCM_RIGHTS, its name as data). -1 on failure.
int receive_fd(int listener, std::string* name);
// A listening unix stream socket at path (-1 on failure).
int listen_unix(const std::string& path);
// Reads fd until the text contains needle, EOF, or timeout_ms; returns what was read.
std::string read_until(int fd, const std::string& needle, int timeout_ms = 10'000);

#define REQUIRE_ROOT()                                                       \
  do {                                                                       \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create containers"; \
  } while (0)

}  // namespace veil::test
