#include "linux/path_in_root.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace veil::rootpath {
namespace {

std::string strip(const std::string& p) {
  size_t i = 0;
  while (i < p.size() && p[i] == '/') ++i;
  std::string s = p.substr(i);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s.empty() ? "." : s;
}

int openat2_in_root(int root_fd, const std::string& rel, int flags, int mode) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? static_cast<uint64_t>(mode) : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how));
}

}  // namespace

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

Result<Fd> open_in_root(int root_fd, const std::string& path, int flags, int mode) {
  int fd = openat2_in_root(root_fd, strip(path), flags, mode);
  if (fd < 0) return fail_errno("open " + path + " in container rootfs");
  return Fd(fd);
}

static Result<Fd> mkdir_in_root_depth(int root_fd, const std::string& path, int mode, int depth) {
  if (depth > 40) return fail("mkdir " + path + " in container rootfs: too many symlinks", ELOOP);
  std::string rel = strip(path);
  // Fast path: it already exists.
  int fd = openat2_in_root(root_fd, rel, O_PATH | O_DIRECTORY, 0);
  if (fd >= 0) return Fd(fd);
  if (errno != ENOENT) return fail_errno("open " + path + " in container rootfs");
  Fd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 3));
  if (!cur) return fail_errno("dup rootfs fd");
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    std::string name = rel.substr(i, j - i);
    i = j + 1;
    if (name.empty() || name == ".") continue;
    std::string so_far = rel.substr(0, j);
    int next = openat2_in_root(root_fd, so_far, O_PATH | O_DIRECTORY, 0);
    if (next < 0 && errno == ENOENT) {
      // Create inside the already-resolved parent, then resolve again in root.
      std::string parent_path = so_far.substr(0, so_far.size() - name.size());
      if (parent_path.empty()) parent_path = ".";
      Fd parent(openat2_in_root(root_fd, parent_path, O_DIRECTORY | O_RDONLY, 0));
      if (!parent) return fail_errno("open parent of " + so_far + " in container rootfs");
      if (::mkdirat(parent.get(), name.c_str(), static_cast<mode_t>(mode)) != 0) {
        if (errno != EEXIST) return fail_errno("mkdir " + so_far + " in container rootfs");
        // A dangling symlink: create its target, resolved inside the root, and carry on there.
        char target[4096];
        ssize_t n = ::readlinkat(parent.get(), name.c_str(), target, sizeof target - 1);
        if (n < 0) return fail_errno("mkdir " + so_far + " in container rootfs");
        target[n] = '\0';
        std::string t = target;
        std::string resolved = t.starts_with("/") ? t : parent_path + "/" + t;
        std::string rest = i < rel.size() ? rel.substr(i) : "";
        return mkdir_in_root_depth(root_fd, resolved + (rest.empty() ? "" : "/" + rest), mode,
                                   depth + 1);
      }
      next = openat2_in_root(root_fd, so_far, O_PATH | O_DIRECTORY, 0);
    }
    if (next < 0) return fail_errno("open " + so_far + " in container rootfs");
    cur.reset(next);
  }
  return cur;
}

Result<Fd> mkdir_in_root(int root_fd, const std::string& path, int mode) {
  return mkdir_in_root_depth(root_fd, path, mode, 0);
}

static Result<Fd> touch_in_root_depth(int root_fd, const std::string& path, int depth) {
  if (depth > 40) return fail("create " + path + " in container rootfs: too many symlinks", ELOOP);
  std::string rel = strip(path);
  int fd = openat2_in_root(root_fd, rel, O_PATH, 0);
  if (fd >= 0) return Fd(fd);
  size_t slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "." : rel.substr(0, slash);
  auto dfd = mkdir_in_root(root_fd, dir);
  if (!dfd) return std::unexpected(dfd.error());
  // A dangling symlink: create its target (and the target's parents), resolved inside the root.
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  char target[4096];
  ssize_t n = ::readlinkat(dfd->get(), name.c_str(), target, sizeof target - 1);
  if (n >= 0) {
    std::string t(target, static_cast<size_t>(n));
    return touch_in_root_depth(root_fd, t.starts_with("/") ? t : dir + "/" + t, depth + 1);
  }
  Fd f(openat2_in_root(root_fd, rel, O_CREAT | O_WRONLY, 0644));
  if (!f) return fail_errno("create " + path + " in container rootfs");
  fd = openat2_in_root(root_fd, rel, O_PATH, 0);
  if (fd < 0) return fail_errno("open " + path + " in container rootfs");
  return Fd(fd);
}

Result<Fd> touch_in_root(int root_fd, const std::string& path) {
  return touch_in_root_depth(root_fd, path, 0);
}

}  // namespace veil::rootpath
