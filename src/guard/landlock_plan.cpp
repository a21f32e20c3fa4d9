#include "guard/landlock_plan.hpp"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include "base/fd.hpp"
#include "base/strings.hpp"
#include "linux/mountinfo.hpp"

namespace veil::guard {
namespace {

std::vector<std::string> components(const std::string& p) {
  std::vector<std::string> out;
  for (auto& c : split(p, '/'))
    if (!c.empty()) out.push_back(std::move(c));
  return out;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

bool glob_matches(const std::string& glob, const std::string& path) {
  if (glob.size() >= 3 && glob.ends_with("/**")) {
    std::string base = glob.substr(0, glob.size() - 3);
    if (base.empty()) return true;  // "/**"
    // The directory itself or anything beneath a directory matching base.
    auto pc = components(path);
    std::string prefix;
    for (size_t i = 0; i < pc.size(); ++i) {
      prefix += "/" + pc[i];
      if (::fnmatch(base.c_str(), prefix.c_str(), FNM_PATHNAME) == 0) return true;
    }
    return false;
  }
  return ::fnmatch(glob.c_str(), path.c_str(), FNM_PATHNAME) == 0;
}

bool glob_may_match_below(const std::string& glob, const std::string& dir) {
  auto gc = components(glob);
  auto dc = components(dir);
  for (size_t i = 0; i < dc.size(); ++i) {
    if (i >= gc.size()) return false;
    if (gc[i] == "**") return true;
    if (::fnmatch(gc[i].c_str(), dc[i].c_str(), 0) != 0) return false;
  }
  return gc.size() > dc.size();
}

Result<> grant_complement(const std::string& root,
                          const std::function<bool(const std::string&)>& denied,
                          const std::function<bool(const std::string&)>& below, uint64_t access,
                          uint64_t file_access, landlock::Ruleset& out, size_t max_rules) {
  if (denied(root)) return {};
  if (!below(root)) {
    out.paths.emplace_back(root, access);
    return {};
  }
  DIR* d = ::opendir(root.c_str());
  if (!d) return {};  // unreadable: nothing granted beneath it
  std::vector<std::pair<std::string, bool>> entries;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string p = join(root, n);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    entries.emplace_back(p, S_ISDIR(st.st_mode));
  }
  ::closedir(d);
  for (const auto& [p, is_dir] : entries) {
    if (out.paths.size() >= max_rules)
      return fail("landlock: more than " + std::to_string(max_rules) +
                  " rules needed; narrow the globs");
    if (is_dir) {
      VEIL_CHECK(grant_complement(p, denied, below, access, file_access, out, max_rules));
    } else if (!denied(p) && file_access) {
      out.paths.emplace_back(p, file_access);
    }
  }
  return {};
}

Result<> add_write_deny(const std::vector<std::string>& globs, int abi, landlock::Ruleset& out) {
  if (globs.empty()) return {};
  uint64_t w = landlock::write_access(abi);
  out.handled_fs |= w;
  auto denied = [&](const std::string& p) {
    for (const auto& g : globs)
      if (glob_matches(g, p)) return true;
    return false;
  };
  auto below = [&](const std::string& dir) {
    for (const auto& g : globs)
      if (glob_may_match_below(g, dir)) return true;
    return false;
  };
  uint64_t file_w = landlock::kWriteFile | (abi >= 3 ? landlock::kTruncate : 0);
  return grant_complement("/", denied, below, w, file_w, out);
}

std::vector<std::string> writable_tmpfs_mounts(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& m : mountinfo::parse(text))
    if (m.fstype == "tmpfs" && m.has_option("rw") && !m.has_option("noexec"))
      out.push_back(m.mountpoint);
  return out;
}

Result<> add_exec_fallback(const std::string& mountinfo, landlock::Ruleset& out) {
  auto mounts = writable_tmpfs_mounts(mountinfo);
  out.handled_fs |= landlock::kExecute;
  auto denied = [&](const std::string& p) {
    for (const auto& m : mounts)
      if (p == m) return true;
    return false;
  };
  auto below = [&](const std::string& dir) {
    std::string pre = dir == "/" ? "/" : dir + "/";
    for (const auto& m : mounts)
      if (m.starts_with(pre) && m != dir) return true;
    return false;
  };
  return grant_complement("/", denied, below, landlock::kExecute, landlock::kExecute, out);
}

}  // namespace veil::guard
