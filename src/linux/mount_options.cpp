#include "linux/mount_options.hpp"

#include <linux/mount.h>
#include <sys/mount.h>

#include <string_view>

namespace veil::mounts {
namespace {

struct FlagOpt {
  std::string_view name;
  bool clear;
  unsigned long flag;
};
constexpr FlagOpt kFlags[] = {
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"sync", false, MS_SYNCHRONOUS},
};

struct PropOpt {
  std::string_view name;
  unsigned long flag;
};
constexpr PropOpt kPropagation[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

struct AttrOpt {
  std::string_view name;
  bool clear;
  uint64_t attr;
};
constexpr AttrOpt kAttrs[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},
    {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},
    {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},
    {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},
    {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME},
    {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rrelatime", false, MOUNT_ATTR_RELATIME},
    {"rnorelatime", true, MOUNT_ATTR_RELATIME},
    {"rnoatime", false, MOUNT_ATTR_NOATIME},
    {"ratime", true, MOUNT_ATTR_NOATIME},
    {"rstrictatime", false, MOUNT_ATTR_STRICTATIME},
    {"rnostrictatime", true, MOUNT_ATTR_STRICTATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW},
    {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW},
};

}  // namespace

bool MountOptions::is_bind() const {
  return (flags & MS_BIND) != 0;
}

Result<MountOptions> parse_mount_options(const std::vector<std::string>& opts) {
  MountOptions out;
  for (const auto& o : opts) {
    bool done = false;
    for (const auto& f : kFlags) {
      if (o == f.name) {
        if (f.clear) {
          out.flags &= ~f.flag;
          out.clear |= f.flag;
        } else {
          out.flags |= f.flag;
          out.clear &= ~f.flag;
        }
        done = true;
        break;
      }
    }
    if (done) continue;
    for (const auto& p : kPropagation) {
      if (o == p.name) {
        out.propagation.push_back(p.flag);
        done = true;
        break;
      }
    }
    if (done) continue;
    for (const auto& a : kAttrs) {
      if (o == a.name) {
        if (a.clear) {
          out.attr_clr |= a.attr;
          out.attr_set &= ~a.attr;
        } else {
          out.attr_set |= a.attr;
          out.attr_clr &= ~a.attr;
        }
        done = true;
        break;
      }
    }
    if (done) continue;
    if (o == "tmpcopyup") {
      out.tmpcopyup = true;
      continue;
    }
    if (o == "idmap" || o == "ridmap" || o.starts_with("uidmap=") || o.starts_with("gidmap="))
      return fail("mount option \"" + o + "\": idmapped mounts are not supported by veil yet");
    if (!out.data.empty()) out.data += ',';
    out.data += o;
  }
  return out;
}

Result<unsigned long> parse_propagation(const std::string& s) {
  if (s.empty()) return 0UL;
  for (const auto& p : kPropagation)
    if (s == p.name) return p.flag;
  return fail("unknown propagation \"" + s + "\"");
}

}  // namespace veil::mounts
