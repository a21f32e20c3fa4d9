#include <gtest/gtest.h>

#include "base/file.hpp"
#include "guard_fixture.hpp"

namespace {

// Stops this run's daemon, unloads its programs and removes its files (and the shared rootfs).
class Cleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    if (::geteuid() != 0) return;
    auto& env = veil::test::GuardEnv::get();
    env.stop_daemon();
    if (!env.bpffs.empty()) env.guard({"unload"});
    if (!env.tmp.empty()) (void)veil::remove_all(env.tmp);
    const std::string& r = veil::test::rootfs();
    (void)veil::remove_all(r.substr(0, r.rfind('/')));
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new Cleanup);
  return RUN_ALL_TESTS();
}
