#include "base/file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/fd.hpp"

namespace veil {

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno("open " + path);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes)
      return fail(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

static Result<> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<> write_file(const std::string& path, std::string_view data) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail_errno("open " + path);
  return write_all(fd.get(), data, path);
}

Result<> write_file_atomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return fail_errno("create " + tmp);
  if (auto r = write_all(fd.get(), data, tmp); !r) {
    ::unlink(tmp.c_str());
    return r;
  }
  if (::fsync(fd.get()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("fsync " + tmp, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail("rename " + tmp + " to " + path, e);
  }
  return {};
}

Result<> mkdir_all(const std::string& path, int mode) {
  if (path.empty()) return {};
  std::string cur;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    cur = path.substr(0, j);
    if (!cur.empty() && ::mkdir(cur.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST)
      return fail_errno("mkdir " + cur);
    i = j + 1;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fail_errno("stat " + path);
  if (!S_ISDIR(st.st_mode)) return fail(path + " exists and is not a directory");
  return {};
}

static Result<> remove_at(int dirfd, const char* name, dev_t dev) {
  struct stat st;
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno(std::string("stat ") + name);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
      return fail_errno(std::string("unlink ") + name);
    return {};
  }
  if (st.st_dev != dev) return fail(std::string(name) + " is a mount point; not removing it");
  // A bind mount from the same filesystem has the same st_dev; the kernel still flags its root.
  struct statx stx {};
  if (dirfd != AT_FDCWD &&
      ::statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) == 0 &&
      (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
      (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    return fail(std::string(name) + " is a mount point; not removing it");
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail_errno(std::string("open ") + name);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return fail_errno(std::string("opendir ") + name);
  }
  Result<> res;
  while (struct dirent* e = ::readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    if (auto r = remove_at(::dirfd(d), e->d_name, dev); !r) {
      res = r;
      break;
    }
  }
  ::closedir(d);
  if (!res) return res;
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
    return fail_errno(std::string("rmdir ") + name);
  return {};
}

Result<> remove_all(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno("stat " + path);
  }
  auto r = remove_at(AT_FDCWD, path.c_str(), st.st_dev);
  if (!r) return std::unexpected(r.error().wrap("remove " + path));
  return {};
}

bool path_exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

std::string read_link(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace veil
