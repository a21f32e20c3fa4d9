#include "linux/landlock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fd.hpp"

namespace veil::landlock {
namespace {

struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
};
struct PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));
struct NetPortAttr {
  uint64_t allowed_access;
  uint64_t port;
};
constexpr int kRulePathBeneath = 1, kRuleNetPort = 2;
constexpr unsigned kCreateVersion = 1U << 0;

}  // namespace

int abi() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateVersion);
  return v < 0 ? 0 : static_cast<int>(v);
}

uint64_t write_access(int abi) {
  uint64_t a = kWriteFile | kRemoveDir | kRemoveFile | kMakeChar | kMakeDir | kMakeReg | kMakeSock |
               kMakeFifo | kMakeBlock | kMakeSym;
  if (abi >= 2) a |= kRefer;
  if (abi >= 3) a |= kTruncate;
  return a;
}

Result<> restrict_self(const Ruleset& r) {
  RulesetAttr attr{r.handled_fs, r.handled_net};
  size_t size = r.handled_net ? sizeof(attr) : sizeof(attr.handled_access_fs);
  Fd rs(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0)));
  if (!rs) return fail_errno("landlock_create_ruleset");
  for (const auto& [path, access] : r.paths) {
    Fd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;
      return fail_errno("landlock: open " + path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return fail_errno("landlock: stat " + path);
    uint64_t allowed = access & r.handled_fs;
    if (!S_ISDIR(st.st_mode)) allowed &= kFileAccess;
    if (!allowed) continue;
    PathBeneathAttr pb{allowed, fd.get()};
    if (::syscall(SYS_landlock_add_rule, rs.get(), kRulePathBeneath, &pb, 0) != 0)
      return fail_errno("landlock: rule for " + path);
  }
  for (const auto& [port, access] : r.ports) {
    NetPortAttr np{access & r.handled_net, port};
    if (::syscall(SYS_landlock_add_rule, rs.get(), kRuleNetPort, &np, 0) != 0)
      return fail_errno("landlock: rule for port " + std::to_string(port));
  }
  if (::syscall(SYS_landlock_restrict_self, rs.get(), 0) != 0)
    return fail_errno("landlock_restrict_self");
  return {};
}

}  // namespace veil::landlock
