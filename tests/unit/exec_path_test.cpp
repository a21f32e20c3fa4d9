#include "runtime/exec_path.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/file.hpp"
#include "temp_dir.hpp"

using veil::runtime::find_executable;
using veil::runtime::with_home;
using veil_test::TempDir;

namespace {

void make_file(const std::string& path, mode_t mode) {
  veil_test::write_text(path, "#!/bin/sh\nexit 0\n");
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// The home directory /etc/passwd gives uid, if it has an entry (first match wins).
std::optional<std::string> passwd_home(uid_t uid) {
  auto text = veil::read_file("/etc/passwd");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    size_t start = 0;
    for (;;) {
      size_t colon = line.find(':', start);
      f.push_back(line.substr(start, colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    if (f.size() >= 6 && f[2] == std::to_string(uid)) return f[5];
  }
  return std::nullopt;
}

// A uid that /etc/passwd does not list.
uid_t unlisted_uid() {
  for (uid_t u = 54321;; ++u)
    if (!passwd_home(u)) return u;
}

std::vector<std::string> homes(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  for (const auto& e : env)
    if (e.starts_with("HOME=")) out.push_back(e.substr(5));
  return out;
}

}  // namespace

TEST(FindExecutable, PathWithSlashIsUsedAsIs) {
  TempDir tmp;
  make_file(tmp / "prog", 0755);
  auto r = find_executable(tmp / "prog", {});
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(*r, tmp / "prog");

  // Relative with a slash: not searched in PATH.
  auto rel = find_executable("./definitely-not-here-xyz", {"PATH=" + tmp.path()});
  ASSERT_FALSE(rel.has_value());
  EXPECT_NE(rel.error().msg.find("\"./definitely-not-here-xyz\""), std::string::npos);
}

TEST(FindExecutable, AbsoluteMissing) {
  TempDir tmp;
  auto r = find_executable(tmp / "missing", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().err, ENOENT);
  EXPECT_NE(r.error().msg.find("exec: \"" + (tmp / "missing") + "\""), std::string::npos)
      << r.error().msg;
}

TEST(FindExecutable, AbsoluteDirectoryIsAnError) {
  TempDir tmp;
  auto r = find_executable(tmp.path(), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("is a directory"), std::string::npos) << r.error().msg;
}

TEST(FindExecutable, SearchesEnvPathInOrder) {
  TempDir tmp;
  for (const char* d : {"first", "second", "third"}) ASSERT_EQ(::mkdir((tmp / d).c_str(), 0755), 0);
  make_file(tmp / "second/tool", 0755);
  make_file(tmp / "third/tool", 0755);

  std::string path = "PATH=" + (tmp / "first") + ":" + (tmp / "second") + ":" + (tmp / "third");
  auto r = find_executable("tool", {"FOO=bar", path});
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(*r, tmp / "second/tool");

  std::string reversed = "PATH=" + (tmp / "third") + ":" + (tmp / "second");
  auto r2 = find_executable("tool", {reversed});
  ASSERT_TRUE(r2.has_value()) << r2.error().str();
  EXPECT_EQ(*r2, tmp / "third/tool");
}

TEST(FindExecutable, SkipsNonExecutablesAndDirectories) {
  TempDir tmp;
  for (const char* d : {"a", "b", "c", "d"}) ASSERT_EQ(::mkdir((tmp / d).c_str(), 0755), 0);
  make_file(tmp / "a/tool", 0644);                        // not executable
  ASSERT_EQ(::mkdir((tmp / "b/tool").c_str(), 0755), 0);  // a directory
  make_file(tmp / "c/tool", 0700);

  std::string path =
      "PATH=" + (tmp / "a") + ":" + (tmp / "b") + ":" + (tmp / "c") + ":" + (tmp / "d");
  auto r = find_executable("tool", {path});
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_EQ(*r, tmp / "c/tool");
}

TEST(FindExecutable, NotFoundMessage) {
  TempDir tmp;
  make_file(tmp / "x", 0644);  // present but not executable
  auto r = find_executable("x", {"PATH=" + tmp.path()});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().msg, "exec: \"x\": executable file not found in $PATH");
  EXPECT_EQ(r.error().err, ENOENT);

  auto none = find_executable("x", {"PATH=" + (tmp / "nonexistent")});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().msg, "exec: \"x\": executable file not found in $PATH");
}

TEST(FindExecutable, DefaultPathWithoutEnvPath) {
  // With no PATH in env, the default PATH is searched: sh lives in one of its directories.
  auto r = find_executable("sh", {"HOME=/root"});
  ASSERT_TRUE(r.has_value()) << r.error().str();
  EXPECT_TRUE(r->ends_with("/sh")) << *r;
  EXPECT_EQ(::access(r->c_str(), X_OK), 0);

  // The env's PATH replaces the default one.
  TempDir tmp;
  auto only = find_executable("sh", {"PATH=" + tmp.path()});
  EXPECT_FALSE(only.has_value());
}

TEST(WithHome, KeepsExistingHome) {
  std::vector<std::string> env = {"PATH=/bin", "HOME=/custom"};
  EXPECT_EQ(with_home(env, 0), env);
  EXPECT_EQ(with_home(env, unlisted_uid()), env);
  // Even an empty HOME is the user's choice.
  std::vector<std::string> empty_home = {"HOME="};
  EXPECT_EQ(with_home(empty_home, 0), empty_home);
}

TEST(WithHome, RootFromPasswd) {
  std::vector<std::string> env = {"PATH=/bin", "TERM=xterm"};
  auto out = with_home(env, 0);
  ASSERT_EQ(out.size(), env.size() + 1);
  EXPECT_TRUE(std::equal(env.begin(), env.end(), out.begin()));
  auto want = passwd_home(0);
  std::string expected = want && !want->empty() ? *want : "/";
  EXPECT_EQ(homes(out), std::vector<std::string>{expected});
}

TEST(WithHome, UnknownUidGetsSlash) {
  auto out = with_home({"PATH=/bin"}, unlisted_uid());
  EXPECT_EQ(homes(out), std::vector<std::string>{"/"});
  EXPECT_EQ(out.front(), "PATH=/bin");
}

TEST(WithHome, EmptyEnv) {
  auto out = with_home({}, unlisted_uid());
  EXPECT_EQ(out, std::vector<std::string>{"HOME=/"});
}

TEST(WithHome, EveryListedUser) {
  // Each uid that /etc/passwd lists gets its home from there (first entry per uid).
  auto text = veil::read_file("/etc/passwd");
  if (!text) GTEST_SKIP() << "no /etc/passwd";
  std::istringstream in(*text);
  std::string line;
  int checked = 0;
  while (std::getline(in, line) && checked < 50) {
    auto c1 = line.find(':');
    auto c2 = line.find(':', c1 == std::string::npos ? c1 : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    auto c3 = line.find(':', c2 + 1);
    if (c3 == std::string::npos) continue;
    std::string uid_text = line.substr(c2 + 1, c3 - c2 - 1);
    if (uid_text.empty() || uid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    uid_t uid = static_cast<uid_t>(std::stoul(uid_text));
    auto want = passwd_home(uid);
    ASSERT_TRUE(want.has_value());
    std::string expected = want->empty() ? "/" : *want;
    EXPECT_EQ(homes(with_home({}, uid)), std::vector<std::string>{expected}) << line;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}
