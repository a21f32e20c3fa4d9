#include "linux/tmpcopyup.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/fd.hpp"
#include "temp_dir.hpp"

using veil::Fd;
using veil_test::mode_of;
using veil_test::read_text;
using veil_test::TempDir;
using veil_test::write_text;

namespace {

Fd open_dir(const std::string& p) {
  return Fd(::open(p.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
}

std::string link_target(const std::string& p) {
  char buf[4096];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
  return n < 0 ? "<not a symlink>" : std::string(buf, static_cast<size_t>(n));
}

// Sets the exact mode regardless of the umask.
void chmod_exact(const std::string& p, mode_t m) {
  ASSERT_EQ(::chmod(p.c_str(), m), 0) << p;
}

// Copies from/ to to/ inside tmp.
void copy(const TempDir& tmp) {
  Fd from = open_dir(tmp / "from");
  Fd to = open_dir(tmp / "to");
  ASSERT_TRUE(from.valid());
  ASSERT_TRUE(to.valid());
  auto r = veil::tmpcopyup::copy_tree(from.get(), to.get());
  ASSERT_TRUE(r.has_value()) << r.error().str();
}

struct Tree : TempDir {
  Tree() {
    ::mkdir((*this / "from").c_str(), 0755);
    ::mkdir((*this / "to").c_str(), 0755);
  }
};

}  // namespace

TEST(Tmpcopyup, EmptyDirectory) {
  Tree t;
  copy(t);
  Fd to = open_dir(t / "to");
  EXPECT_TRUE(veil::Fd(::openat(to.get(), ".", O_DIRECTORY | O_RDONLY)).valid());
}

TEST(Tmpcopyup, FilesWithContentAndMode) {
  Tree t;
  write_text(t / "from/a.txt", "hello\n");
  chmod_exact(t / "from/a.txt", 0640);
  write_text(t / "from/empty", "");
  chmod_exact(t / "from/empty", 0600);
  write_text(t / "from/script", "#!/bin/sh\n");
  chmod_exact(t / "from/script", 0755);
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  write_text(t / "from/big.bin", big);
  chmod_exact(t / "from/big.bin", 0644);

  copy(t);
  EXPECT_EQ(read_text(t / "to/a.txt"), "hello\n");
  EXPECT_EQ(mode_of(t / "to/a.txt"), 0640U);
  EXPECT_EQ(read_text(t / "to/empty"), "");
  EXPECT_EQ(mode_of(t / "to/empty"), 0600U);
  EXPECT_EQ(mode_of(t / "to/script"), 0755U);
  EXPECT_TRUE(read_text(t / "to/big.bin") == big) << "large file content differs";
  // The source is untouched.
  EXPECT_EQ(read_text(t / "from/a.txt"), "hello\n");
}

TEST(Tmpcopyup, ModesWiderThanTheUmask) {
  // The umask of the process copying must not narrow the copied modes (a /tmp is 1777).
  Tree t;
  ASSERT_EQ(::mkdir((t / "from/tmp").c_str(), 0700), 0);
  chmod_exact(t / "from/tmp", 01777);
  write_text(t / "from/shared", "x");
  chmod_exact(t / "from/shared", 0666);
  write_text(t / "from/all", "x");
  chmod_exact(t / "from/all", 0777);
  write_text(t / "from/setuid", "x");
  chmod_exact(t / "from/setuid", 04755);

  mode_t old = ::umask(022);
  copy(t);
  ::umask(old);
  EXPECT_EQ(mode_of(t / "to/tmp"), 01777U);
  EXPECT_EQ(mode_of(t / "to/shared"), 0666U);
  EXPECT_EQ(mode_of(t / "to/all"), 0777U);
  EXPECT_EQ(mode_of(t / "to/setuid"), 04755U);
}

TEST(Tmpcopyup, NestedDirectories) {
  Tree t;
  ASSERT_EQ(::mkdir((t / "from/a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((t / "from/a/b").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((t / "from/a/b/c").c_str(), 0755), 0);
  chmod_exact(t / "from/a/b", 0710);
  ASSERT_EQ(::mkdir((t / "from/empty").c_str(), 0755), 0);
  write_text(t / "from/a/one", "1");
  write_text(t / "from/a/b/two", "22");
  write_text(t / "from/a/b/c/three", "333");

  copy(t);
  EXPECT_EQ(read_text(t / "to/a/one"), "1");
  EXPECT_EQ(read_text(t / "to/a/b/two"), "22");
  EXPECT_EQ(read_text(t / "to/a/b/c/three"), "333");
  EXPECT_EQ(mode_of(t / "to/a/b"), 0710U);
  struct stat st {};
  ASSERT_EQ(::lstat((t / "to/empty").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(Tmpcopyup, SymlinksCopiedNotFollowed) {
  Tree t;
  write_text(t / "from/target", "t");
  ASSERT_EQ(::symlink("target", (t / "from/rel").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (t / "from/abs").c_str()), 0);
  ASSERT_EQ(::symlink("does/not/exist", (t / "from/dangling").c_str()), 0);
  ASSERT_EQ(::mkdir((t / "from/dir").c_str(), 0755), 0);
  write_text(t / "from/dir/inside", "i");
  ASSERT_EQ(::symlink("dir", (t / "from/dirlink").c_str()), 0);

  copy(t);
  EXPECT_EQ(link_target(t / "to/rel"), "target");
  EXPECT_EQ(link_target(t / "to/abs"), "/etc/passwd");
  EXPECT_EQ(link_target(t / "to/dangling"), "does/not/exist");
  EXPECT_EQ(link_target(t / "to/dirlink"), "dir");
  EXPECT_EQ(read_text(t / "to/rel"), "t");
  EXPECT_EQ(read_text(t / "to/dir/inside"), "i");
}

TEST(Tmpcopyup, OwnersKept) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  Tree t;
  write_text(t / "from/owned", "x");
  ASSERT_EQ(::chown((t / "from/owned").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::mkdir((t / "from/d").c_str(), 0755), 0);
  ASSERT_EQ(::chown((t / "from/d").c_str(), 4321, 8765), 0);
  ASSERT_EQ(::symlink("owned", (t / "from/l").c_str()), 0);
  ASSERT_EQ(::lchown((t / "from/l").c_str(), 1111, 2222), 0);

  copy(t);
  struct stat st {};
  ASSERT_EQ(::lstat((t / "to/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234U);
  EXPECT_EQ(st.st_gid, 5678U);
  ASSERT_EQ(::lstat((t / "to/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321U);
  EXPECT_EQ(st.st_gid, 8765U);
  ASSERT_EQ(::lstat((t / "to/l").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1111U);
  EXPECT_EQ(st.st_gid, 2222U);
}

TEST(Tmpcopyup, IntoNonEmptyTarget) {
  Tree t;
  ASSERT_EQ(::mkdir((t / "from/d").c_str(), 0755), 0);
  write_text(t / "from/d/f", "new");
  ASSERT_EQ(::mkdir((t / "to/d").c_str(), 0755), 0);
  write_text(t / "to/d/f", "old content that is longer");
  write_text(t / "to/keep", "k");

  copy(t);
  EXPECT_EQ(read_text(t / "to/d/f"), "new");
  EXPECT_EQ(read_text(t / "to/keep"), "k");
}
