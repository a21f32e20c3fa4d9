#include "linux/path_in_root.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "temp_dir.hpp"

using veil::Fd;
using veil::rootpath::fd_path;
using veil::rootpath::mkdir_in_root;
using veil::rootpath::open_in_root;
using veil::rootpath::touch_in_root;
using veil_test::TempDir;

namespace {

// A temp dir used as a container root, with an fd on it.
struct Root {
  TempDir dir;
  Fd fd;
  Root() : fd(::open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC)) {}
  std::string operator/(const std::string& rel) const { return dir / rel; }
};

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// The real path an fd refers to.
std::string where(int fd) {
  char buf[4096];
  ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
  if (n < 0) return "<readlink failed>";
  return std::string(buf, static_cast<size_t>(n));
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

TEST(PathInRoot, FdPath) {
  EXPECT_EQ(fd_path(7), "/proc/self/fd/7");
}

TEST(PathInRoot, OpenPlainFile) {
  Root r;
  ASSERT_TRUE(r.fd.valid());
  ASSERT_EQ(::mkdir((r / "etc").c_str(), 0755), 0);
  veil_test::write_text(r / "etc/hostname", "inside\n");
  for (const char* p : {"etc/hostname", "/etc/hostname", "//etc//hostname", "./etc/hostname"}) {
    auto f = open_in_root(r.fd.get(), p, O_RDONLY);
    ASSERT_TRUE(f.has_value()) << p << ": " << f.error().str();
    EXPECT_EQ(read_fd(f->get()), "inside\n") << p;
  }
  // "" and "/" are the root itself.
  for (const char* p : {"", "/"}) {
    auto d = open_in_root(r.fd.get(), p, O_PATH | O_DIRECTORY);
    ASSERT_TRUE(d.has_value()) << p;
    EXPECT_EQ(where(d->get()), r.dir.path());
  }
}

TEST(PathInRoot, OpenMissingFails) {
  Root r;
  auto f = open_in_root(r.fd.get(), "/nope/file", O_RDONLY);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().err, ENOENT);
  EXPECT_NE(f.error().msg.find("/nope/file"), std::string::npos) << f.error().msg;
}

TEST(PathInRoot, OpenCreates) {
  Root r;
  auto f = open_in_root(r.fd.get(), "/new.txt", O_CREAT | O_WRONLY, 0600);
  ASSERT_TRUE(f.has_value()) << f.error().str();
  ASSERT_EQ(::write(f->get(), "x", 1), 1);
  EXPECT_EQ(veil_test::read_text(r / "new.txt"), "x");
  EXPECT_EQ(veil_test::mode_of(r / "new.txt"), 0600U);
}

TEST(PathInRoot, AbsoluteSymlinkStaysInRoot) {
  Root r;
  ASSERT_EQ(::symlink("/etc", (r / "evil").c_str()), 0);

  // No <root>/etc yet: the host's /etc/passwd must not be opened.
  auto missing = open_in_root(r.fd.get(), "evil/passwd", O_RDONLY);
  EXPECT_FALSE(missing.has_value()) << "opened " << where(missing->get());

  ASSERT_EQ(::mkdir((r / "etc").c_str(), 0755), 0);
  veil_test::write_text(r / "etc/passwd", "container passwd\n");
  auto f = open_in_root(r.fd.get(), "/evil/passwd", O_RDONLY);
  ASSERT_TRUE(f.has_value()) << f.error().str();
  EXPECT_EQ(read_fd(f->get()), "container passwd\n");
  EXPECT_EQ(where(f->get()), r / "etc/passwd");
}

TEST(PathInRoot, DotDotCannotEscape) {
  Root r;
  ASSERT_EQ(::mkdir((r / "etc").c_str(), 0755), 0);
  veil_test::write_text(r / "etc/passwd", "container passwd\n");
  for (const char* p : {"../../../etc/passwd", "/../../../../etc/passwd", "etc/../../etc/passwd"}) {
    auto f = open_in_root(r.fd.get(), p, O_RDONLY);
    ASSERT_TRUE(f.has_value()) << p << ": " << f.error().str();
    EXPECT_EQ(where(f->get()), r / "etc/passwd") << p;
  }
  // A relative symlink climbing out is clamped too.
  ASSERT_EQ(::mkdir((r / "a").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("../../../../../../etc", (r / "a/up").c_str()), 0);
  auto f = open_in_root(r.fd.get(), "a/up/passwd", O_RDONLY);
  ASSERT_TRUE(f.has_value()) << f.error().str();
  EXPECT_EQ(where(f->get()), r / "etc/passwd");

  auto d = open_in_root(r.fd.get(), "../..", O_PATH | O_DIRECTORY);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(where(d->get()), r.dir.path());
}

TEST(PathInRoot, MagicLinksRefused) {
  Root r;
  ASSERT_EQ(::symlink("/proc/self/root/etc", (r / "magic").c_str()), 0);
  // Resolved in the root: <root>/proc/self/root does not exist; nothing of the host is reached.
  auto f = open_in_root(r.fd.get(), "magic/passwd", O_RDONLY);
  EXPECT_FALSE(f.has_value());
}

TEST(PathInRoot, MkdirCreatesParents) {
  Root r;
  auto d = mkdir_in_root(r.fd.get(), "/a/b/c", 0750);
  ASSERT_TRUE(d.has_value()) << d.error().str();
  EXPECT_TRUE(is_dir(r / "a/b/c"));
  EXPECT_EQ(where(d->get()), r / "a/b/c");
  EXPECT_EQ(veil_test::mode_of(r / "a/b/c") & 0700, 0700U);

  // Existing: returns it.
  auto again = mkdir_in_root(r.fd.get(), "a/b/c/");
  ASSERT_TRUE(again.has_value()) << again.error().str();
  EXPECT_EQ(where(again->get()), r / "a/b/c");

  // The root itself.
  auto root = mkdir_in_root(r.fd.get(), "/");
  ASSERT_TRUE(root.has_value()) << root.error().str();
  EXPECT_EQ(where(root->get()), r.dir.path());
}

TEST(PathInRoot, MkdirThroughAbsoluteSymlinkStaysInRoot) {
  Root r;
  ASSERT_EQ(::symlink("/etc", (r / "evil").c_str()), 0);
  std::string host_probe = "/etc/veil-unit-escape-" + std::to_string(::getpid());
  std::string name = host_probe.substr(5);  // "veil-unit-escape-<pid>"

  auto d = mkdir_in_root(r.fd.get(), "evil/" + name);
  ASSERT_TRUE(d.has_value()) << d.error().str();
  EXPECT_TRUE(is_dir(r / ("etc/" + name)));
  EXPECT_EQ(where(d->get()), r / ("etc/" + name));
  EXPECT_FALSE(veil::path_exists(host_probe)) << "escaped to the host's /etc";
  ::rmdir(host_probe.c_str());
  // The symlink is still a symlink.
  struct stat st {};
  ASSERT_EQ(::lstat((r / "evil").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST(PathInRoot, MkdirDotDotCannotEscape) {
  Root r;
  std::string name = "veil-unit-dotdot-" + std::to_string(::getpid());
  auto d = mkdir_in_root(r.fd.get(), "../../../../" + name + "/x");
  ASSERT_TRUE(d.has_value()) << d.error().str();
  EXPECT_TRUE(is_dir(r / (name + "/x")));
  EXPECT_FALSE(veil::path_exists("/" + name));
  EXPECT_FALSE(veil::path_exists("/tmp/" + name));
}

TEST(PathInRoot, MkdirDanglingSymlinkTargetsCreatedInRoot) {
  Root r;
  // Absolute, several levels missing.
  ASSERT_EQ(::symlink("/var/lib/data", (r / "data").c_str()), 0);
  auto d = mkdir_in_root(r.fd.get(), "/data/sub");
  ASSERT_TRUE(d.has_value()) << d.error().str();
  EXPECT_TRUE(is_dir(r / "var/lib/data/sub"));
  EXPECT_EQ(where(d->get()), r / "var/lib/data/sub");

  // Relative, from a subdirectory.
  ASSERT_EQ(::mkdir((r / "opt").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("../srv/app", (r / "opt/app").c_str()), 0);
  auto rel = mkdir_in_root(r.fd.get(), "opt/app");
  ASSERT_TRUE(rel.has_value()) << rel.error().str();
  EXPECT_TRUE(is_dir(r / "srv/app"));
  EXPECT_EQ(where(rel->get()), r / "srv/app");

  // Pointing above the root: clamped.
  ASSERT_EQ(::symlink("../../../../../../outside", (r / "up").c_str()), 0);
  auto up = mkdir_in_root(r.fd.get(), "up");
  ASSERT_TRUE(up.has_value()) << up.error().str();
  EXPECT_EQ(where(up->get()), r / "outside");
}

TEST(PathInRoot, MkdirSymlinkLoopFails) {
  Root r;
  ASSERT_EQ(::symlink("b", (r / "a").c_str()), 0);
  ASSERT_EQ(::symlink("a", (r / "b").c_str()), 0);
  auto d = mkdir_in_root(r.fd.get(), "a/x");
  EXPECT_FALSE(d.has_value());
}

TEST(PathInRoot, MkdirOverFileFails) {
  Root r;
  veil_test::write_text(r / "file", "x");
  auto d = mkdir_in_root(r.fd.get(), "file/sub");
  EXPECT_FALSE(d.has_value());
  auto e = mkdir_in_root(r.fd.get(), "file");
  EXPECT_FALSE(e.has_value());
  EXPECT_TRUE(is_file(r / "file"));
}

TEST(PathInRoot, TouchCreatesParentsAndFile) {
  Root r;
  auto f = touch_in_root(r.fd.get(), "/a/b/c.txt");
  ASSERT_TRUE(f.has_value()) << f.error().str();
  EXPECT_TRUE(is_dir(r / "a/b"));
  EXPECT_TRUE(is_file(r / "a/b/c.txt"));
  EXPECT_EQ(where(f->get()), r / "a/b/c.txt");
  EXPECT_EQ(veil_test::read_text(r / "a/b/c.txt"), "");

  // An existing file is kept as it is.
  veil_test::write_text(r / "a/b/c.txt", "content");
  auto again = touch_in_root(r.fd.get(), "a/b/c.txt");
  ASSERT_TRUE(again.has_value()) << again.error().str();
  EXPECT_EQ(veil_test::read_text(r / "a/b/c.txt"), "content");

  // In the root directly.
  auto top = touch_in_root(r.fd.get(), "top");
  ASSERT_TRUE(top.has_value()) << top.error().str();
  EXPECT_TRUE(is_file(r / "top"));
}

TEST(PathInRoot, TouchThroughSymlinksStaysInRoot) {
  Root r;
  ASSERT_EQ(::symlink("/etc", (r / "evil").c_str()), 0);
  std::string name = "veil-unit-touch-" + std::to_string(::getpid());
  auto f = touch_in_root(r.fd.get(), "evil/" + name);
  ASSERT_TRUE(f.has_value()) << f.error().str();
  EXPECT_TRUE(is_file(r / ("etc/" + name)));
  EXPECT_FALSE(veil::path_exists("/etc/" + name)) << "escaped to the host's /etc";
  ::unlink(("/etc/" + name).c_str());
}

TEST(PathInRoot, TouchDanglingSymlinkCreatesTargetInRoot) {
  Root r;
  ASSERT_EQ(::mkdir((r / "etc").c_str(), 0755), 0);
  std::string name = "veil-unit-dangling-" + std::to_string(::getpid());
  ASSERT_EQ(::symlink(("/etc/" + name).c_str(), (r / "resolv.conf").c_str()), 0);
  auto f = touch_in_root(r.fd.get(), "/resolv.conf");
  ASSERT_TRUE(f.has_value()) << f.error().str();
  EXPECT_TRUE(is_file(r / ("etc/" + name)));
  EXPECT_EQ(where(f->get()), r / ("etc/" + name));
  EXPECT_FALSE(veil::path_exists("/etc/" + name)) << "escaped to the host's /etc";
  ::unlink(("/etc/" + name).c_str());
}

TEST(PathInRoot, TouchDanglingSymlinkWithMissingParents) {
  // The target's directories do not exist in the root either: they are made inside the root.
  Root r;
  ASSERT_EQ(::symlink("/run/secrets/token", (r / "token").c_str()), 0);
  auto f = touch_in_root(r.fd.get(), "token");
  ASSERT_TRUE(f.has_value()) << f.error().str();
  EXPECT_TRUE(is_file(r / "run/secrets/token"));
  EXPECT_EQ(where(f->get()), r / "run/secrets/token");
}
