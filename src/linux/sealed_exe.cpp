#include "linux/sealed_exe.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/subprocess.hpp"

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

}  // namespace

bool running_sealed() {
  Fd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self) return false;
  int seals = ::fcntl(self.get(), F_GET_SEALS);
  return seals >= 0 && (seals & kSeals) == kSeals;
}

Result<> reexec(char** argv) {
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
  if (!::getenv(kOriginExeEnv)) {
    std::string origin = read_link("/proc/self/exe");
    if (!origin.empty()) ::setenv(kOriginExeEnv, origin.c_str(), 1);
  }
  ::syscall(SYS_execveat, copy.get(), "", argv, environ, AT_EMPTY_PATH);
  if (errno == EACCES)
    return fail(
        "sealed copy: executing veil's sealed in-memory copy was refused (vm.memfd_noexec=2 on "
        "this host?); veil does not enter containers from its on-disk binary (CVE-2019-5736)",
        EACCES);
  return fail_errno("sealed copy: execveat");
}

}  // namespace veil::sealed_exe
