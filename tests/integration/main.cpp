#include <gtest/gtest.h>

#include "base/file.hpp"
#include "harness.hpp"

namespace {

class CleanupRootfs : public ::testing::Environment {
 public:
  void TearDown() override {
    // rootfs() is <tmpdir>/rootfs; remove the whole temp dir, if it was ever built.
    if (built_) {
      const std::string& r = veil::test::rootfs();
      (void)veil::remove_all(r.substr(0, r.rfind('/')));
    }
  }
  void SetUp() override { built_ = ::geteuid() == 0; }

 private:
  bool built_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new CleanupRootfs);
  return RUN_ALL_TESTS();
}
