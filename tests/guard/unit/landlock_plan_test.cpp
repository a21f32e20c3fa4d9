// The pieces of the Landlock plan that do not need a kernel: glob semantics, the complement of
// denied paths over a real directory tree, and writable tmpfs mounts from mountinfo.
#include "guard/landlock_plan.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "base/file.hpp"

namespace veil::guard {
namespace {

TEST(GuardGlob, Matches) {
  EXPECT_TRUE(glob_matches("/etc/**", "/etc"));
  EXPECT_TRUE(glob_matches("/etc/**", "/etc/ssl/certs/a.pem"));
  EXPECT_FALSE(glob_matches("/etc/**", "/etcetera"));
  EXPECT_TRUE(glob_matches("/usr/*/bin", "/usr/local/bin"));
  EXPECT_FALSE(glob_matches("/usr/*/bin", "/usr/local/share/bin"));
  EXPECT_TRUE(glob_matches("/bin/*", "/bin/sh"));
  EXPECT_TRUE(glob_matches("/**", "/anything"));
}

TEST(GuardGlob, MayMatchBelow) {
  EXPECT_TRUE(glob_may_match_below("/etc/**", "/"));
  EXPECT_FALSE(glob_may_match_below("/etc/**", "/usr"));
  EXPECT_TRUE(glob_may_match_below("/usr/*/bin", "/usr"));
  EXPECT_TRUE(glob_may_match_below("/usr/*/bin", "/usr/local"));
  EXPECT_FALSE(glob_may_match_below("/usr/*/bin", "/usr/local/bin"));
  EXPECT_TRUE(glob_may_match_below("/**/secret", "/a/b"));
}

TEST(GuardLandlockPlan, ComplementGrantsLargestSafeSubtrees) {
  char tmpl[] = "/tmp/veil-llplan-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  for (const char* d : {"/a", "/a/keep", "/a/deny", "/b"}) ::mkdir((root + d).c_str(), 0755);
  std::ofstream(root + "/a/file") << "x";
  std::ofstream(root + "/a/deny/f") << "x";
  landlock::Ruleset rs;
  auto denied = [&](const std::string& p) { return p == root + "/a/deny"; };
  auto below = [&](const std::string& d) { return d == root || d == root + "/a"; };
  ASSERT_TRUE(grant_complement(root, denied, below, 7, 3, rs));
  std::map<std::string, uint64_t> got(rs.paths.begin(), rs.paths.end());
  std::map<std::string, uint64_t> want = {
      {root + "/a/keep", 7}, {root + "/a/file", 3}, {root + "/b", 7}};
  EXPECT_EQ(got, want);
  (void)remove_all(root);
}

TEST(GuardLandlockPlan, WritableTmpfsFromMountinfo) {
  std::string mi =
      "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
      "23 22 0:22 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw\n"
      "24 22 0:23 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755\n"
      "25 24 0:24 / /dev/shm rw,nosuid,nodev,noexec - tmpfs shm rw\n"
      "26 22 0:25 / /run/my\\040dir ro - tmpfs tmpfs ro\n"
      "27 22 0:26 / /var/tmp rw - tmpfs tmpfs rw\n";
  EXPECT_EQ(writable_tmpfs_mounts(mi), (std::vector<std::string>{"/tmp", "/dev", "/var/tmp"}));
}

}  // namespace
}  // namespace veil::guard
