#include "linux/tmpcopyup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "base/fd.hpp"

namespace veil::tmpcopyup {

Result<> copy_tree(int from_dir, int to_dir) {
  int dfd = ::openat(from_dir, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0) return fail_errno("open source directory");
  DIR* d = ::fdopendir(dfd);
  if (!d) {
    ::close(dfd);
    return fail_errno("opendir");
  }
  Result<> res;
  while (struct dirent* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (!std::strcmp(n, ".") || !std::strcmp(n, "..")) continue;
    struct stat st;
    if (::fstatat(::dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(to_dir, n, st.st_mode & 07777) != 0 && errno != EEXIST) {
        res = fail_errno(std::string("mkdir ") + n);
        break;
      }
      Fd src(::openat(::dirfd(d), n, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      Fd dst(::openat(to_dir, n, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!src || !dst) {
        res = fail_errno(std::string("open ") + n);
        break;
      }
      if (auto r = copy_tree(src.get(), dst.get()); !r) {
        res = r;
        break;
      }
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t len = ::readlinkat(::dirfd(d), n, buf, sizeof buf - 1);
      if (len < 0) continue;
      buf[len] = '\0';
      ::symlinkat(buf, to_dir, n);
    } else if (S_ISREG(st.st_mode)) {
      Fd src(::openat(::dirfd(d), n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      Fd dst(::openat(to_dir, n, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777));
      if (!src || !dst) {
        res = fail_errno(std::string("copy ") + n);
        break;
      }
      off_t left = st.st_size;
      while (left > 0) {
        ssize_t w = ::sendfile(dst.get(), src.get(), nullptr, static_cast<size_t>(left));
        if (w <= 0) break;
        left -= w;
      }
    } else {
      continue;  // devices, sockets, fifos are not copied
    }
    ::fchownat(to_dir, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    // The exact mode: creation is narrowed by the umask, and chown clears setuid/setgid.
    if (!S_ISLNK(st.st_mode)) ::fchmodat(to_dir, n, st.st_mode & 07777, 0);
  }
  ::closedir(d);
  return res;
}

}  // namespace veil::tmpcopyup
