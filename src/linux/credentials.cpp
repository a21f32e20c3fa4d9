#include "linux/credentials.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "base/file.hpp"
#include "base/log.hpp"

namespace veil::credentials {
namespace {

bool has(const std::vector<int>& v, int c) {
  for (int x : v)
    if (x == c) return true;
  return false;
}

}  // namespace

int last_cap() {
  static int cached = -1;
  if (cached >= 0) return cached;
  auto s = read_file("/proc/sys/kernel/cap_last_cap");
  cached = s ? std::atoi(s->c_str()) : CAP_LAST_CAP;
  return cached;
}

Result<> apply(const oci::User& user, const std::optional<oci::Capabilities>& caps) {
  const int last = last_cap();
  oci::Capabilities none;
  const oci::Capabilities& c = caps ? *caps : none;

  // 1. Bounding set: drop everything not listed (needs CAP_SETPCAP, which we still have).
  for (int cap = 0; cap <= last; ++cap) {
    if (has(c.bounding, cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return fail_errno("drop capability " + std::to_string(cap) + " from the bounding set");
  }

  // 2. Identity. KEEPCAPS keeps the permitted set across setuid away from 0.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return fail_errno("prctl(PR_SET_KEEPCAPS)");
  std::vector<gid_t> groups(user.additional_gids.begin(), user.additional_gids.end());
  if (::setgroups(groups.size(), groups.data()) != 0) {
    // setgroups is denied in a user namespace whose gid_map was written with setgroups=deny.
    if (!(errno == EPERM && groups.empty())) return fail_errno("setgroups");
  }
  if (::syscall(SYS_setresgid, user.gid, user.gid, user.gid) != 0)
    return fail_errno("setresgid(" + std::to_string(user.gid) + ")");
  if (::syscall(SYS_setresuid, user.uid, user.uid, user.uid) != 0)
    return fail_errno("setresuid(" + std::to_string(user.uid) + ")");
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return fail_errno("prctl(PR_SET_KEEPCAPS, 0)");

  // 3. effective / permitted / inheritable, 64 bits in two 32-bit words.
  struct __user_cap_header_struct hdr {
    _LINUX_CAPABILITY_VERSION_3, 0
  };
  struct __user_cap_data_struct data[2]{};
  auto set_bits = [&](const std::vector<int>& v, auto member) {
    for (int cap : v) {
      if (cap < 0 || cap > last) continue;
      data[cap / 32].*member |= 1U << (cap % 32);
    }
  };
  set_bits(c.effective, &__user_cap_data_struct::effective);
  set_bits(c.permitted, &__user_cap_data_struct::permitted);
  set_bits(c.inheritable, &__user_cap_data_struct::inheritable);
  if (::syscall(SYS_capset, &hdr, data) != 0) return fail_errno("capset");

  // 4. Ambient (each must be permitted and inheritable).
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return fail_errno("clear ambient capabilities");
  // Like runc: an ambient capability that is not also permitted and inheritable cannot be
  // raised; that is a debug message, not fatal (runc's default spec lists such capabilities, and
  // this runs in the container process, whose stderr is the workload's).
  for (int cap : c.ambient) {
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
      log::debug("cannot raise ambient capability " + std::to_string(cap) +
                 " (it must be permitted and inheritable)");
  }
  return {};
}

}  // namespace veil::credentials
