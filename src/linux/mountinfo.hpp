// /proc/<pid>/mountinfo, one entry per mount (proc(5)): mount point and root unescaped.
#pragma once

#include <string>
#include <vector>

namespace veil::mountinfo {

struct Entry {
  std::string dev;         // "major:minor" of the filesystem
  std::string root;        // the mount's root within its filesystem
  std::string mountpoint;  // in the reader's mount namespace
  std::string options;     // per-mount options: "rw,nosuid,..."
  std::string fstype, source, super_options;
  bool has_option(const std::string& opt) const;  // in options
};

// Lines that do not parse are skipped.
std::vector<Entry> parse(const std::string& text);

}  // namespace veil::mountinfo
