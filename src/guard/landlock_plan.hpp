// Landlock rulesets for guard rules, computed inside the container (after pivot_root) from its
// own filesystem: Landlock only grants, so "deny writes under these globs" becomes "allow writes
// beneath every path that no glob can reach".
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/landlock.hpp"

namespace veil::guard {

// Glob semantics: fnmatch(3) with FNM_PATHNAME per component; a trailing "/**" also covers the
// directory itself and everything beneath it.
bool glob_matches(const std::string& glob, const std::string& path);
// True when some path strictly beneath dir could match glob.
bool glob_may_match_below(const std::string& glob, const std::string& dir);

// Grants `access` on the largest subtrees of root in which `denied` holds for no path, and
// `file_access` on single files next to denied ones. `below(dir)` tells whether a denied path
// may exist strictly beneath dir. Fails beyond max_rules.
Result<> grant_complement(const std::string& root,
                          const std::function<bool(const std::string&)>& denied,
                          const std::function<bool(const std::string&)>& below, uint64_t access,
                          uint64_t file_access, landlock::Ruleset& out, size_t max_rules = 4096);

// Writes refused under the globs; everything else stays writable.
Result<> add_write_deny(const std::vector<std::string>& globs, int abi, landlock::Ruleset& out);

// The fallback for drift/fileless where BPF is not available: no execution beneath writable
// tmpfs mounts (/tmp, /dev/shm, /run, ...) read from mountinfo.
Result<> add_exec_fallback(const std::string& mountinfo, landlock::Ruleset& out);

// Writable tmpfs mount points listed in mountinfo text.
std::vector<std::string> writable_tmpfs_mounts(const std::string& mountinfo);

}  // namespace veil::guard
