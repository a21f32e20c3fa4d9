// A private guard instance for the tests: its own bpffs pin directory, run directory and daemon,
// a busybox rootfs with the attack program in /bin, listeners on 127.0.0.1, and access to the
// audit stream.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../../integration/harness.hpp"

namespace veil::test {

struct GuardEnv {
  std::string tmp, run_dir, bpffs, policy_dir, rootfs, out_dir;
  pid_t daemon = -1;
  std::string skip_reason;  // non-empty: the host cannot run these tests

  static GuardEnv& get();
  void start_daemon();
  void stop_daemon();
  // veil-guard with this instance's flags.
  Cmd guard(std::vector<std::string> args) const;
  // Every audit record so far (the file, rotated files not included).
  std::vector<nlohmann::json> records() const;
  // Events of one container, waiting up to timeout_ms until at least `n` arrived.
  std::vector<nlohmann::json> events(const std::string& id, size_t n = 1,
                                     int timeout_ms = 3000) const;
  std::string write_policy(const std::string& name, const std::string& yaml) const;
};

// A bundle on the guard rootfs, sharing the host's network namespace (the attacks talk to
// listeners on 127.0.0.1), with /out bind-mounted writable from the host for marker files.
class GuardBundle : public Bundle {
 public:
  GuardBundle(std::vector<std::string> args, const std::string& policy);
};

// Accepts one connection, sends `command`, and records what came back.
class Listener {
 public:
  explicit Listener(std::string command);
  ~Listener();
  int port() const { return port_; }
  // Waits for the session to end; true when a client connected at all.
  bool finish();
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1, port_ = 0;
  std::string command_, received_;
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

#define REQUIRE_GUARD()                                          \
  do {                                                           \
    REQUIRE_ROOT();                                              \
    if (!::veil::test::GuardEnv::get().skip_reason.empty())      \
      GTEST_SKIP() << ::veil::test::GuardEnv::get().skip_reason; \
  } while (0)

}  // namespace veil::test
