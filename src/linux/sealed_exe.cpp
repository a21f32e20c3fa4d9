#include "linux/sealed_exe.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/subprocess.hpp"

#ifndef ST_RDONLY
#define ST_RDONLY 1
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

extern char** environ;

namespace veil::sealed_exe {
namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

Fd make_memfd() {
  // MFD_EXEC (6.3+) keeps the copy executable where vm.memfd_noexec=1 would default to noexec;
  // older kernels reject the flag: retry without it.
  int fd = static_cast<int>(
      ::syscall(SYS_memfd_create, "veil", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
  if (fd < 0 && errno == EINVAL)
    fd = static_cast<int>(::syscall(SYS_memfd_create, "veil", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  return Fd(fd);
}

// A new filesystem of `type` (optionally with one string option), mounted nowhere: an fd only.
Fd detached_mount(const char* type, const char* key, const char* value) {
  Fd fs(static_cast<int>(::syscall(SYS_fsopen, type, FSOPEN_CLOEXEC)));
  if (!fs) return Fd();
  if (key && ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, key, value, 0) != 0)
    return Fd();
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return Fd();
  return Fd(static_cast<int>(
      ::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV)));
}

// The cheap way (runc 1.2 does the same): a read-only overlayfs of the binary's directory,
// created detached (fsopen/fsmount, never attached to any mount tree), and the binary executed
// from there. Writes through /proc/<pid>/exe then meet a read-only filesystem (EROFS), and no byte
// is copied. Needs CAP_SYS_ADMIN; nullopt when it cannot be had (the caller copies instead).
Fd open_on_readonly_overlay(const std::string& exe) {
  auto slash = exe.rfind('/');
  if (slash == std::string::npos || slash == 0) return Fd();
  std::string dir = exe.substr(0, slash), name = exe.substr(slash + 1);
  // The option parser splits on ':' and ','.
  if (dir.find_first_of(":,\\") != std::string::npos) return Fd();
  // Without an upper layer overlayfs wants two lower ones that do not overlap: the second is an
  // empty detached tmpfs, named through its fd.
  Fd empty = detached_mount("tmpfs", nullptr, nullptr);
  if (!empty) return Fd();
  std::string lower = dir + ":/proc/self/fd/" + std::to_string(empty.get());
  Fd mnt = detached_mount("overlay", "lowerdir", lower.c_str());
  if (!mnt) return Fd();
  return Fd(::openat(mnt.get(), name.c_str(), O_PATH | O_CLOEXEC | O_NOFOLLOW));
}

}  // namespace

bool running_sealed() {
  Fd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self) return false;
  int seals = ::fcntl(self.get(), F_GET_SEALS);
  if (seals >= 0 && (seals & kSeals) == kSeals) return true;
  // A binary on a read-only mount cannot be written through /proc/<pid>/exe either (the overlay
  // above, or an installation on a read-only filesystem).
  struct statfs fs;
  return ::fstatfs(self.get(), &fs) == 0 && (fs.f_flags & ST_RDONLY);
}

Result<> reexec(char** argv) {
  std::string origin = read_link("/proc/self/exe");
  if (!::getenv(kOriginExeEnv) && !origin.empty()) ::setenv(kOriginExeEnv, origin.c_str(), 1);
  if (Fd ro = open_on_readonly_overlay(origin)) {
    ::syscall(SYS_execveat, ro.get(), "", argv, environ, AT_EMPTY_PATH);
    // Fall through to the copy (a noexec or otherwise unusable overlay).
  }
  Fd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self) return fail_errno("sealed copy: open /proc/self/exe");
  struct stat st;
  if (::fstat(self.get(), &st) != 0) return fail_errno("sealed copy: stat /proc/self/exe");
  Fd copy = make_memfd();
  if (!copy) return fail_errno("sealed copy: memfd_create");
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = ::sendfile(copy.get(), self.get(), &off, static_cast<size_t>(st.st_size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail_errno("sealed copy: copy the veil binary");
  }
  if (::fchmod(copy.get(), 0555) != 0) return fail_errno("sealed copy: chmod");
  if (::fcntl(copy.get(), F_ADD_SEALS, kSeals) != 0) return fail_errno("sealed copy: seal");
  ::syscall(SYS_execveat, copy.get(), "", argv, environ, AT_EMPTY_PATH);
  if (errno == EACCES)
    return fail(
        "sealed copy: executing veil's sealed in-memory copy was refused (vm.memfd_noexec=2 on "
        "this host?); veil does not enter containers from its on-disk binary (CVE-2019-5736)",
        EACCES);
  return fail_errno("sealed copy: execveat");
}

}  // namespace veil::sealed_exe
