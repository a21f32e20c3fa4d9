#include "base/file.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "temp_dir.hpp"

using veil::mkdir_all;
using veil::path_exists;
using veil::read_file;
using veil::remove_all;
using veil::write_file;
using veil::write_file_atomic;
using veil_test::mode_of;
using veil_test::TempDir;

namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Unmounts what a test mounted, even when an assertion fails first.
struct MountGuard {
  std::string path;
  ~MountGuard() {
    if (!path.empty()) ::umount2(path.c_str(), MNT_DETACH);
  }
};

}  // namespace

TEST(File, ReadFile) {
  TempDir tmp;
  veil_test::write_text(tmp / "f", std::string("a\0b\nc", 5));
  auto r = read_file(tmp / "f");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(*r, std::string("a\0b\nc", 5));

  veil_test::write_text(tmp / "empty", "");
  auto e = read_file(tmp / "empty");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e, "");

  // Larger than one read buffer.
  std::string big(100000, 'z');
  big[99999] = '!';
  veil_test::write_text(tmp / "big", big);
  auto b = read_file(tmp / "big");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, big);

  // procfs files report size 0 but have content.
  auto p = read_file("/proc/self/status");
  ASSERT_TRUE(p.has_value());
  EXPECT_NE(p->find("Pid:"), std::string::npos);
}

TEST(File, ReadFileMissing) {
  TempDir tmp;
  auto r = read_file(tmp / "missing");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().err, ENOENT);
  EXPECT_NE(r.error().msg.find(tmp / "missing"), std::string::npos) << r.error().msg;
  EXPECT_NE(r.error().str().find(": "), std::string::npos);
}

TEST(File, WriteFileNeedsExistingFile) {
  TempDir tmp;
  auto missing = write_file(tmp / "missing", "x");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_FALSE(path_exists(tmp / "missing"));

  veil_test::write_text(tmp / "f", "old");
  ASSERT_TRUE(write_file(tmp / "f", "new").has_value());
  // Not truncated: writes over the start, as echo > /proc/... would on a real procfs file.
  EXPECT_EQ(veil_test::read_text(tmp / "f"), "new");
}

TEST(File, WriteFileAtomicCreatesAndReplaces) {
  TempDir tmp;
  std::string p = tmp / "state.json";
  ASSERT_TRUE(write_file_atomic(p, "first version, long").has_value());
  EXPECT_EQ(veil_test::read_text(p), "first version, long");
  ASSERT_TRUE(write_file_atomic(p, "second").has_value());
  EXPECT_EQ(veil_test::read_text(p), "second");
  EXPECT_FALSE(path_exists(p + ".tmp"));
  ASSERT_TRUE(write_file_atomic(p, "").has_value());
  EXPECT_EQ(veil_test::read_text(p), "");
}

TEST(File, WriteFileAtomicReplacesTheInode) {
  // Readers holding the old file keep seeing the old content: the file is replaced, not rewritten.
  TempDir tmp;
  std::string p = tmp / "f";
  ASSERT_TRUE(write_file_atomic(p, "old").has_value());
  FILE* reader = ::fopen(p.c_str(), "r");
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(write_file_atomic(p, "new!").has_value());
  char buf[16] = {};
  size_t n = ::fread(buf, 1, sizeof buf - 1, reader);
  ::fclose(reader);
  EXPECT_EQ(std::string(buf, n), "old");
  EXPECT_EQ(veil_test::read_text(p), "new!");
}

TEST(File, WriteFileAtomicMode) {
  // The mode is the creation mode (so subject to the umask, like open(2)).
  TempDir tmp;
  mode_t old = ::umask(022);
  auto priv = write_file_atomic(tmp / "private", "x", 0600);
  auto group = write_file_atomic(tmp / "group", "x", 0640);
  ::umask(old);
  ASSERT_TRUE(priv.has_value());
  EXPECT_EQ(mode_of(tmp / "private"), 0600U);
  ASSERT_TRUE(group.has_value());
  EXPECT_EQ(mode_of(tmp / "group"), 0640U);
}

TEST(File, WriteFileAtomicStaleTempFile) {
  // A temp file left behind by a crash does not block the write nor leak into the content.
  TempDir tmp;
  std::string p = tmp / "state.json";
  veil_test::write_text(p + ".tmp", "garbage from a crash, longer than the new content");
  ASSERT_TRUE(write_file_atomic(p, "ok", 0600).has_value());
  EXPECT_EQ(veil_test::read_text(p), "ok");
  EXPECT_FALSE(path_exists(p + ".tmp"));
}

TEST(File, WriteFileAtomicMissingDirectory) {
  TempDir tmp;
  auto r = write_file_atomic(tmp / "no/such/dir/f", "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().err, ENOENT);
}

TEST(File, MkdirAll) {
  TempDir tmp;
  ASSERT_TRUE(mkdir_all(tmp / "a/b/c", 0700).has_value());
  EXPECT_TRUE(is_dir(tmp / "a/b/c"));
  EXPECT_EQ(mode_of(tmp / "a/b/c"), 0700U);
  // Idempotent.
  ASSERT_TRUE(mkdir_all(tmp / "a/b/c").has_value());
  // Repeated and trailing slashes.
  ASSERT_TRUE(mkdir_all(tmp / "x//y/z/").has_value());
  EXPECT_TRUE(is_dir(tmp / "x/y/z"));
  ASSERT_TRUE(mkdir_all("/").has_value());
  ASSERT_TRUE(mkdir_all("").has_value());
}

TEST(File, MkdirAllRelative) {
  TempDir tmp;
  char old[4096];
  ASSERT_NE(::getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(::chdir(tmp.path().c_str()), 0);
  auto r = mkdir_all("rel/dir");
  ASSERT_EQ(::chdir(old), 0);
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_TRUE(is_dir(tmp / "rel/dir"));
}

TEST(File, MkdirAllOverFile) {
  TempDir tmp;
  veil_test::write_text(tmp / "file", "x");
  auto same = mkdir_all(tmp / "file");
  ASSERT_FALSE(same.has_value());
  EXPECT_NE(same.error().msg.find("not a directory"), std::string::npos) << same.error().msg;
  auto below = mkdir_all(tmp / "file/sub");
  ASSERT_FALSE(below.has_value());
  EXPECT_EQ(below.error().err, ENOTDIR);
}

TEST(File, MkdirAllThroughSymlink) {
  TempDir tmp;
  ASSERT_EQ(::mkdir((tmp / "real").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("real", (tmp / "link").c_str()), 0);
  ASSERT_TRUE(mkdir_all(tmp / "link/sub").has_value());
  EXPECT_TRUE(is_dir(tmp / "real/sub"));
}

TEST(File, RemoveAll) {
  TempDir tmp;
  ASSERT_TRUE(mkdir_all(tmp / "t/a/b/c").has_value());
  veil_test::write_text(tmp / "t/f", "x");
  veil_test::write_text(tmp / "t/a/b/c/deep", "x");
  ASSERT_EQ(::mkfifo((tmp / "t/a/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::mkdir((tmp / "t/a/readonly").c_str(), 0755), 0);
  veil_test::write_text(tmp / "t/a/readonly/inside", "x");
  ASSERT_EQ(::chmod((tmp / "t/a/readonly").c_str(), 0500), 0);
  auto r = remove_all(tmp / "t");
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_FALSE(path_exists(tmp / "t"));
  EXPECT_TRUE(is_dir(tmp.path()));
}

TEST(File, RemoveAllMissingIsOk) {
  TempDir tmp;
  EXPECT_TRUE(remove_all(tmp / "missing").has_value());
  EXPECT_TRUE(remove_all(tmp / "missing/deeper").has_value());
}

TEST(File, RemoveAllSingleFile) {
  TempDir tmp;
  veil_test::write_text(tmp / "f", "x");
  ASSERT_TRUE(remove_all(tmp / "f").has_value());
  EXPECT_FALSE(path_exists(tmp / "f"));
}

TEST(File, RemoveAllDoesNotFollowSymlinks) {
  TempDir tmp;
  ASSERT_TRUE(mkdir_all(tmp / "keep/sub").has_value());
  veil_test::write_text(tmp / "keep/precious", "x");
  veil_test::write_text(tmp / "keep/sub/precious", "x");
  ASSERT_TRUE(mkdir_all(tmp / "t").has_value());
  ASSERT_EQ(::symlink((tmp / "keep").c_str(), (tmp / "t/to-dir").c_str()), 0);
  ASSERT_EQ(::symlink((tmp / "keep/precious").c_str(), (tmp / "t/to-file").c_str()), 0);

  ASSERT_TRUE(remove_all(tmp / "t").has_value());
  EXPECT_FALSE(path_exists(tmp / "t"));
  EXPECT_TRUE(path_exists(tmp / "keep/precious"));
  EXPECT_TRUE(path_exists(tmp / "keep/sub/precious"));

  // A symlink given directly is removed itself.
  ASSERT_EQ(::symlink((tmp / "keep").c_str(), (tmp / "top-link").c_str()), 0);
  ASSERT_TRUE(remove_all(tmp / "top-link").has_value());
  struct stat st {};
  EXPECT_NE(::lstat((tmp / "top-link").c_str(), &st), 0);
  EXPECT_TRUE(path_exists(tmp / "keep/precious"));
}

TEST(File, RemoveAllRefusesToCrossAMount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  TempDir tmp;
  ASSERT_TRUE(mkdir_all(tmp / "t/sub/mnt").has_value());
  veil_test::write_text(tmp / "t/sub/before", "x");
  MountGuard guard;
  if (::mount("tmpfs", (tmp / "t/sub/mnt").c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "cannot mount tmpfs here: " << std::strerror(errno);
  guard.path = tmp / "t/sub/mnt";
  veil_test::write_text(tmp / "t/sub/mnt/on-tmpfs", "keep me");

  auto r = remove_all(tmp / "t");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("mount point"), std::string::npos) << r.error().msg;
  // Nothing on the other filesystem was touched, and the mount is still there.
  EXPECT_EQ(veil_test::read_text(tmp / "t/sub/mnt/on-tmpfs"), "keep me");

  ASSERT_EQ(::umount2(guard.path.c_str(), 0), 0);
  guard.path.clear();
  ASSERT_TRUE(remove_all(tmp / "t").has_value());
  EXPECT_FALSE(path_exists(tmp / "t"));
}

TEST(File, RemoveAllRefusesToCrossABindMountOfTheSameFilesystem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to bind-mount";
  TempDir tmp;
  ASSERT_TRUE(mkdir_all(tmp / "host-data").has_value());
  veil_test::write_text(tmp / "host-data/precious", "keep me");
  ASSERT_TRUE(mkdir_all(tmp / "t/mnt").has_value());
  MountGuard guard;
  if (::mount((tmp / "host-data").c_str(), (tmp / "t/mnt").c_str(), nullptr, MS_BIND, nullptr) != 0)
    GTEST_SKIP() << "cannot bind-mount here: " << std::strerror(errno);
  guard.path = tmp / "t/mnt";

  auto r = remove_all(tmp / "t");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("mount point"), std::string::npos) << r.error().msg;
  EXPECT_EQ(veil_test::read_text(tmp / "host-data/precious"), "keep me");

  ASSERT_EQ(::umount2(guard.path.c_str(), 0), 0);
  guard.path.clear();
  ASSERT_TRUE(remove_all(tmp / "t").has_value());
  EXPECT_TRUE(path_exists(tmp / "host-data/precious"));
}

TEST(File, PathExists) {
  TempDir tmp;
  EXPECT_TRUE(path_exists(tmp.path()));
  EXPECT_FALSE(path_exists(tmp / "nope"));
  ASSERT_EQ(::symlink("nope", (tmp / "dangling").c_str()), 0);
  EXPECT_FALSE(path_exists(tmp / "dangling"));  // follows symlinks
}
