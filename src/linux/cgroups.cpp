#include "linux/cgroups.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::cgroups {
namespace {

std::string join_path(const std::string& a, const std::string& b) {
  if (b.empty() || b == "/") return a;
  if (b.front() == '/') return a + b;
  return a + "/" + b;
}

// Normalises "a//b/./c/" to "/a/b/c" without touching the filesystem; ".." is clamped at the root.
std::string clean(const std::string& p) {
  std::vector<std::string> parts;
  for (auto& c : split(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (auto& c : parts) out += "/" + c;
  return out.empty() ? "/" : out;
}

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::v2:
      return "v2 (unified)";
    case Mode::hybrid:
      return "hybrid (v1 controllers, v2 at unified)";
    case Mode::v1:
      return "v1 (legacy)";
  }
  return "?";
}

Result<Layout> probe() {
  auto mi = read_file("/proc/self/mountinfo");
  if (!mi) return std::unexpected(mi.error());
  auto self = read_file("/proc/self/cgroup");
  if (!self) return std::unexpected(self.error());

  // /proc/self/cgroup lines: "hierarchy-id:controllers:path"; v2 has id 0 and empty controllers.
  std::vector<std::pair<std::string, std::string>> memberships;  // controllers, path
  for (auto& line : split(*self, '\n')) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    memberships.emplace_back(line.substr(a + 1, b - a - 1), line.substr(b + 1));
  }

  Layout layout;
  bool have_v1 = false, have_v2 = false;
  for (auto& line : split(*mi, '\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    auto f = split(line, ' ');
    size_t dash = 0;
    for (size_t i = 0; i < f.size(); ++i)
      if (f[i] == "-") dash = i;
    if (dash == 0 || dash + 3 >= f.size() + 1 || f.size() < 5) continue;
    const std::string& fstype = f[dash + 1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    Hierarchy h;
    h.mountpoint = f[4];
    h.v2 = fstype == "cgroup2";
    h.name = h.mountpoint.substr(h.mountpoint.rfind('/') + 1);
    std::string super = dash + 3 < f.size() ? f[dash + 3] : "";
    if (h.v2) {
      for (auto& [ctrls, path] : memberships)
        if (ctrls.empty()) h.self_path = path;
      have_v2 = true;
    } else {
      // Match this hierarchy's controllers (super options) to a /proc/self/cgroup line.
      auto opts = split(super, ',');
      for (auto& [ctrls, path] : memberships) {
        if (ctrls.empty()) continue;
        bool all = true;
        for (auto& c : split(ctrls, ',')) {
          bool found = false;
          for (auto& o : opts)
            if (o == c) found = true;
          all = all && found;
        }
        if (all) h.self_path = path;
      }
      have_v1 = true;
    }
    if (h.self_path.empty()) h.self_path = "/";
    layout.hierarchies.push_back(std::move(h));
  }
  if (layout.hierarchies.empty()) return fail("no cgroup filesystem is mounted");
  layout.mode = have_v1 ? (have_v2 ? Mode::hybrid : Mode::v1) : Mode::v2;
  layout.root = "/sys/fs/cgroup";
  return layout;
}

std::string resolve_path(const std::string& cgroups_path, const std::string& id,
                         const Hierarchy& h) {
  if (cgroups_path.empty()) return clean("/veil/" + id);
  if (cgroups_path.front() == '/') return clean(cgroups_path);
  return clean(h.self_path + "/" + cgroups_path);
}

Cgroup Cgroup::for_container(const Layout& layout, const std::string& cgroups_path,
                             const std::string& id) {
  Cgroup c;
  for (const auto& h : layout.hierarchies)
    c.dirs_.push_back(join_path(h.mountpoint, resolve_path(cgroups_path, id, h)));
  return c;
}

// cgroup v1 cpuset: a new group starts with empty cpuset.cpus/mems and refuses tasks (ENOSPC)
// until they are filled; inherit them from the nearest ancestor, top-down.
static Result<> fill_cpuset(const std::string& dir) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    auto cur = read_file(dir + "/" + file);
    if (!cur) return {};  // not a cpuset hierarchy
    if (cur->find_first_not_of(" \n") != std::string::npos) continue;
    std::string parent = dir.substr(0, dir.rfind('/'));
    VEIL_CHECK(fill_cpuset(parent));
    auto value = read_file(parent + "/" + file);
    if (!value) return std::unexpected(value.error());
    if (auto r = write_file(dir + "/" + file, *value); !r)
      return std::unexpected(r.error().wrap("cgroup"));
  }
  return {};
}

Result<> Cgroup::create() {
  for (const auto& d : dirs_) {
    if (auto r = mkdir_all(d, 0755); !r) return std::unexpected(r.error().wrap("cgroup"));
    if (d.find("/cpuset") != std::string::npos) VEIL_CHECK(fill_cpuset(d));
  }
  return {};
}

namespace {

// struct clone_args of clone3(2) (the fields up to `cgroup`, Linux 5.7).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

bool is_v2_dir(const std::string& d) {
  return path_exists(d + "/cgroup.controllers");
}

}  // namespace

pid_t Cgroup::fork_child(bool* in_v2) const {
  *in_v2 = false;
  for (const auto& d : dirs_) {
    if (!is_v2_dir(d)) continue;
    Fd dir(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) break;
    CloneArgs args{};
    args.flags = kCloneIntoCgroup;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(dir.get());
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      *in_v2 = true;
      return static_cast<pid_t>(pid);
    }
    break;  // an older kernel, or a cgroup that refuses it: plain fork, join_self does the rest
  }
  return ::fork();
}

Result<> Cgroup::join_self(bool in_v2) const {
  for (const auto& d : dirs_) {
    bool v2 = is_v2_dir(d);
    if (v2 && in_v2) continue;
    // v1: "0" in tasks moves this (single-threaded) process without the global lock; v2 has no
    // such shortcut across domains, so the fallback pays for it.
    if (auto r = write_file(d + (v2 ? "/cgroup.procs" : "/tasks"), "0"); !r)
      return std::unexpected(r.error().wrap("join cgroup"));
  }
  return {};
}

Result<> Cgroup::add(pid_t pid) const {
  std::string p = std::to_string(pid);
  for (const auto& d : dirs_) {
    if (auto r = write_file(d + "/cgroup.procs", p); !r)
      return std::unexpected(r.error().wrap("join cgroup"));
  }
  return {};
}

namespace {

// d's sub-cgroups, deepest first (made by `exec --cgroup`, or by the workload itself).
void sub_cgroups(const std::string& d, std::vector<std::string>& out) {
  DIR* dir = ::opendir(d.c_str());
  if (!dir) return;
  while (auto* e = ::readdir(dir)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    std::string sub = d + "/" + e->d_name;
    sub_cgroups(sub, out);
    out.push_back(sub);
  }
  ::closedir(dir);
}

void read_procs(const std::string& d, std::vector<pid_t>& out) {
  auto s = read_file(d + "/cgroup.procs");
  if (!s) return;
  for (auto& l : split(*s, '\n'))
    if (!l.empty()) out.push_back(static_cast<pid_t>(std::stol(l)));
}

}  // namespace

std::vector<pid_t> Cgroup::pids() const {
  // Every process of the container, in its cgroup and below (as runc's GetAllPids): the first
  // hierarchy that has any answers (each hierarchy holds every process once).
  std::vector<pid_t> out;
  for (const auto& d : dirs_) {
    read_procs(d, out);
    std::vector<std::string> subs;
    sub_cgroups(d, subs);
    for (const auto& sub : subs) read_procs(sub, out);
    if (!out.empty()) break;
  }
  return out;
}

void Cgroup::signal_all(int sig) const {
  for (pid_t p : pids()) ::kill(p, sig);
}

Result<> Cgroup::destroy() const {
  // Kill until empty: new children may appear while we signal (a fork bomb); bounded retries.
  for (int i = 0; i < 400; ++i) {
    auto p = pids();
    if (p.empty()) break;
    for (pid_t pid : p) ::kill(pid, SIGKILL);
    struct timespec ts {
      0, 5'000'000
    };
    nanosleep(&ts, nullptr);
  }
  Result<> res;
  std::vector<std::string> all;
  for (const auto& d : dirs_) {
    sub_cgroups(d, all);  // sub-cgroups first, deepest first
    all.push_back(d);
  }
  for (const auto& d : all) {
    for (int i = 0; i < 200; ++i) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) {
        res = fail_errno("remove cgroup " + d);
        break;
      }
      struct timespec ts {
        0, 5'000'000
      };
      nanosleep(&ts, nullptr);
      if (i == 199) res = fail_errno("remove cgroup " + d);
    }
  }
  return res;
}

}  // namespace veil::cgroups
