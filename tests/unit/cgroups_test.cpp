#include "linux/cgroups.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/file.hpp"

using veil::cgroups::Cgroup;
using veil::cgroups::Hierarchy;
using veil::cgroups::Layout;
using veil::cgroups::Mode;
using veil::cgroups::resolve_path;

namespace {

Hierarchy hierarchy(const std::string& mountpoint, const std::string& self_path, bool v2) {
  Hierarchy h;
  h.mountpoint = mountpoint;
  h.name = mountpoint.substr(mountpoint.rfind('/') + 1);
  h.v2 = v2;
  h.self_path = self_path;
  return h;
}

std::vector<std::string> fields(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string f;
  while (std::getline(in, f, sep)) out.push_back(f);
  return out;
}

// What the test expects from /proc/self/mountinfo, computed independently of the code under test.
struct CgroupMount {
  std::string mountpoint;
  bool v2;
  std::set<std::string> super_options;
};

std::vector<CgroupMount> cgroup_mounts() {
  std::vector<CgroupMount> out;
  auto text = veil::read_file("/proc/self/mountinfo");
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    // The optional fields end at " - "; after it: fstype, source, super options.
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    auto before = fields(line.substr(0, sep), ' ');
    auto after = fields(line.substr(sep + 3), ' ');
    if (before.size() < 5 || after.empty()) continue;
    if (after[0] != "cgroup" && after[0] != "cgroup2") continue;
    CgroupMount m;
    m.mountpoint = before[4];
    m.v2 = after[0] == "cgroup2";
    if (after.size() >= 3)
      for (auto& o : fields(after[2], ',')) m.super_options.insert(o);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

TEST(CgroupResolvePath, EmptyMeansVeilSlashId) {
  auto h = hierarchy("/sys/fs/cgroup/memory", "/some/where", false);
  EXPECT_EQ(resolve_path("", "c1", h), "/veil/c1");
  EXPECT_EQ(resolve_path("", "my-container.1", h), "/veil/my-container.1");
}

TEST(CgroupResolvePath, AbsoluteFromHierarchyRoot) {
  auto h = hierarchy("/sys/fs/cgroup/unified", "/user.slice/session-1.scope", true);
  EXPECT_EQ(resolve_path("/kubepods/pod1/c1", "c1", h), "/kubepods/pod1/c1");
  EXPECT_EQ(resolve_path("/", "c1", h), "/");
  EXPECT_EQ(resolve_path("//a//b/./c/", "c1", h), "/a/b/c");
}

TEST(CgroupResolvePath, RelativeToOwnCgroup) {
  auto h = hierarchy("/sys/fs/cgroup/memory", "/process_api/abc", false);
  EXPECT_EQ(resolve_path("c1", "c1", h), "/process_api/abc/c1");
  EXPECT_EQ(resolve_path("x/y", "c1", h), "/process_api/abc/x/y");
  EXPECT_EQ(resolve_path("./x//y/", "c1", h), "/process_api/abc/x/y");
  EXPECT_EQ(resolve_path("../sibling", "c1", h), "/process_api/sibling");

  auto root = hierarchy("/sys/fs/cgroup/cpu", "/", false);
  EXPECT_EQ(resolve_path("c1", "c1", root), "/c1");
}

TEST(CgroupResolvePath, DotDotIsClampedAtTheRoot) {
  auto h = hierarchy("/sys/fs/cgroup/memory", "/a/b", false);
  EXPECT_EQ(resolve_path("/../../..", "c1", h), "/");
  EXPECT_EQ(resolve_path("/../../etc", "c1", h), "/etc");
  EXPECT_EQ(resolve_path("/x/../../../y", "c1", h), "/y");
  EXPECT_EQ(resolve_path("../../../../../x", "c1", h), "/x");
  EXPECT_EQ(resolve_path("../../..", "c1", h), "/");
}

TEST(CgroupForContainer, OneDirectoryPerHierarchy) {
  Layout layout;
  layout.mode = Mode::hybrid;
  layout.root = "/sys/fs/cgroup";
  layout.hierarchies = {hierarchy("/sys/fs/cgroup/memory", "/mem/self", false),
                        hierarchy("/sys/fs/cgroup/unified", "/", true)};
  auto empty = Cgroup::for_container(layout, "", "c1");
  std::vector<std::string> want = {"/sys/fs/cgroup/memory/veil/c1",
                                   "/sys/fs/cgroup/unified/veil/c1"};
  EXPECT_EQ(empty.dirs(), want);

  auto rel = Cgroup::for_container(layout, "sub", "c1");
  want = {"/sys/fs/cgroup/memory/mem/self/sub", "/sys/fs/cgroup/unified/sub"};
  EXPECT_EQ(rel.dirs(), want);

  auto abs = Cgroup::for_container(layout, "/k/../k8s/c1", "c1");
  want = {"/sys/fs/cgroup/memory/k8s/c1", "/sys/fs/cgroup/unified/k8s/c1"};
  EXPECT_EQ(abs.dirs(), want);

  // Never above the mountpoint.
  auto up = Cgroup::for_container(layout, "/../../..", "c1");
  want = {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"};
  EXPECT_EQ(up.dirs(), want);
}

TEST(CgroupForContainer, FromDirs) {
  auto c = Cgroup::from_dirs({"/a", "/b"});
  std::vector<std::string> want = {"/a", "/b"};
  EXPECT_EQ(c.dirs(), want);
  EXPECT_TRUE(Cgroup().dirs().empty());
}

TEST(CgroupProbe, MatchesMountinfo) {
  auto mounts = cgroup_mounts();
  auto layout = veil::cgroups::probe();
  if (mounts.empty()) {
    ASSERT_FALSE(layout.has_value());
    GTEST_SKIP() << "no cgroup filesystem mounted on this host";
  }
  ASSERT_TRUE(layout.has_value()) << layout.error().msg;
  ASSERT_FALSE(layout->hierarchies.empty());

  bool any_v1 = std::any_of(mounts.begin(), mounts.end(), [](auto& m) { return !m.v2; });
  bool any_v2 = std::any_of(mounts.begin(), mounts.end(), [](auto& m) { return m.v2; });
  Mode want = any_v1 ? (any_v2 ? Mode::hybrid : Mode::v1) : Mode::v2;
  EXPECT_EQ(layout->mode, want) << "probed " << veil::cgroups::mode_name(layout->mode)
                                << ", mountinfo says " << veil::cgroups::mode_name(want);
  EXPECT_EQ(layout->root, "/sys/fs/cgroup");

  ASSERT_EQ(layout->hierarchies.size(), mounts.size());
  for (size_t i = 0; i < mounts.size(); ++i) {
    const auto& h = layout->hierarchies[i];
    EXPECT_EQ(h.mountpoint, mounts[i].mountpoint);
    EXPECT_EQ(h.v2, mounts[i].v2) << h.mountpoint;
    EXPECT_EQ(h.name, h.mountpoint.substr(h.mountpoint.rfind('/') + 1));
    EXPECT_FALSE(h.self_path.empty()) << h.mountpoint;
    EXPECT_EQ(h.self_path.front(), '/') << h.mountpoint;
  }
}

TEST(CgroupProbe, SelfPathsMatchProcSelfCgroup) {
  auto layout = veil::cgroups::probe();
  if (!layout) GTEST_SKIP() << "no cgroup filesystem: " << layout.error().msg;
  auto self = veil::read_file("/proc/self/cgroup");
  ASSERT_TRUE(self.has_value());
  std::istringstream in(*self);
  std::string line;
  while (std::getline(in, line)) {
    // hierarchy-id:controllers:path
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    auto mounts = cgroup_mounts();
    for (size_t i = 0; i < mounts.size() && i < layout->hierarchies.size(); ++i) {
      const auto& m = mounts[i];
      bool match;
      if (ctrls.empty()) {
        match = m.v2;
      } else {
        // The hierarchy whose super options carry this line's first controller.
        std::string first = ctrls.substr(0, ctrls.find(','));
        match = !m.v2 && m.super_options.count(first) > 0;
      }
      if (match) {
        EXPECT_EQ(layout->hierarchies[i].self_path, path) << m.mountpoint;
      }
    }
  }
}

TEST(CgroupProbe, ModeNames) {
  for (Mode m : {Mode::v2, Mode::hybrid, Mode::v1}) {
    ASSERT_NE(veil::cgroups::mode_name(m), nullptr);
    EXPECT_STRNE(veil::cgroups::mode_name(m), "");
  }
  EXPECT_STRNE(veil::cgroups::mode_name(Mode::v2), veil::cgroups::mode_name(Mode::v1));
}

TEST(CgroupLifecycle, CreateAddDestroy) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  auto layout = veil::cgroups::probe();
  if (!layout) GTEST_SKIP() << "no cgroup filesystem: " << layout.error().msg;
  std::string id = "veil-unit-" + std::to_string(::getpid());
  auto cg = Cgroup::for_container(*layout, "/veil-unit-test/" + id, id);
  auto created = cg.create();
  if (!created) {
    (void)cg.destroy();
    GTEST_SKIP() << "cannot create cgroups here: " << created.error().str();
  }
  for (const auto& d : cg.dirs()) EXPECT_TRUE(veil::path_exists(d)) << d;

  pid_t child = ::fork();
  if (child == 0) {
    for (;;) ::pause();
  }
  ASSERT_GT(child, 0);
  auto added = cg.add(child);
  EXPECT_TRUE(added.has_value()) << (added ? "" : added.error().str());
  if (added) {
    auto pids = cg.pids();
    EXPECT_NE(std::find(pids.begin(), pids.end(), child), pids.end());
  }

  auto destroyed = cg.destroy();
  EXPECT_TRUE(destroyed.has_value()) << (destroyed ? "" : destroyed.error().str());
  int st = 0;
  ::kill(child, SIGKILL);  // in case add failed
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  if (added) {
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  }
  for (const auto& d : cg.dirs()) {
    EXPECT_FALSE(veil::path_exists(d)) << d;
    // The parent directory is ours too.
    ::rmdir(d.substr(0, d.rfind('/')).c_str());
  }
}

// The child of fork_child (and, as after a clone3 fallback, of a plain fork + join_self(false))
// is in every directory of the cgroup, as /proc/self/cgroup says from inside it.
TEST(CgroupLifecycle, ForkChildStartsInEveryHierarchy) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  auto layout = veil::cgroups::probe();
  if (!layout) GTEST_SKIP() << "no cgroup filesystem: " << layout.error().msg;
  for (bool fallback : {false, true}) {
    std::string id = "veil-unit-fork-" + std::to_string(::getpid()) + (fallback ? "-f" : "");
    auto cg = Cgroup::for_container(*layout, "/veil-unit-test/" + id, id);
    ASSERT_TRUE(cg.create().has_value());
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    bool in_v2 = false;
    pid_t child = fallback ? ::fork() : cg.fork_child(&in_v2);
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto r = cg.join_self(in_v2);
      std::string out = r ? *veil::read_file("/proc/self/cgroup") : "error: " + r.error().str();
      (void)!::write(p[1], out.data(), out.size());
      _exit(0);
    }
    ::close(p[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) text.append(buf, n);
    ::close(p[0]);
    ::waitpid(child, nullptr, 0);
    if (!fallback) {
      bool have_v2 = std::any_of(layout->hierarchies.begin(), layout->hierarchies.end(),
                                 [](const Hierarchy& h) { return h.v2; });
      EXPECT_EQ(in_v2, have_v2);  // clone3(CLONE_INTO_CGROUP) works on this kernel
    }
    // One line per hierarchy, each with the container's path.
    size_t lines = std::count(text.begin(), text.end(), '\n');
    EXPECT_EQ(lines, layout->hierarchies.size()) << text;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
      EXPECT_TRUE(line.ends_with(":/veil-unit-test/" + id)) << line << "\n" << text;
    EXPECT_TRUE(cg.destroy().has_value());
    for (const auto& d : cg.dirs()) ::rmdir(d.substr(0, d.rfind('/')).c_str());
  }
}
