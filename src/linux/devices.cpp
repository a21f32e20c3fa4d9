#include "linux/devices.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "linux/path_in_root.hpp"

namespace veil::devices {

std::vector<oci::Device> default_devices() {
  auto dev = [](const char* path, int64_t major, int64_t minor) {
    oci::Device d;
    d.path = path;
    d.type = 'c';
    d.major = major;
    d.minor = minor;
    d.file_mode = 0666;
    d.uid = 0;
    d.gid = 0;
    return d;
  };
  return {dev("/dev/null", 1, 3),   dev("/dev/zero", 1, 5),    dev("/dev/full", 1, 7),
          dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0)};
}

static Result<> create_one(int root_fd, const oci::Device& d, bool bind) {
  std::string parent = d.path.substr(0, d.path.rfind('/'));
  std::string name = d.path.substr(d.path.rfind('/') + 1);
  if (name.empty()) return fail("device path " + d.path + " has no file name");
  if (bind) {
    auto target = rootpath::touch_in_root(root_fd, d.path);
    if (!target) return std::unexpected(target.error());
    if (::mount(d.path.c_str(), rootpath::fd_path(target->get()).c_str(), nullptr, MS_BIND,
                nullptr) != 0)
      return fail_errno("bind-mount device " + d.path);
    return {};
  }
  auto dir = rootpath::mkdir_in_root(root_fd, parent.empty() ? "/" : parent);
  if (!dir) return std::unexpected(dir.error());
  // mknodat needs a real directory fd, not O_PATH.
  auto dfd = rootpath::open_in_root(root_fd, parent.empty() ? "/" : parent, O_DIRECTORY | O_RDONLY);
  if (!dfd) return std::unexpected(dfd.error());
  mode_t type = 0;
  switch (d.type) {
    case 'c':
    case 'u':
      type = S_IFCHR;
      break;
    case 'b':
      type = S_IFBLK;
      break;
    case 'p':
      type = S_IFIFO;
      break;
    default:
      return fail("device " + d.path + ": unknown type");
  }
  mode_t perm = d.file_mode ? (*d.file_mode & 07777) : 0666;
  ::unlinkat(dfd->get(), name.c_str(), 0);
  dev_t num = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
  if (::mknodat(dfd->get(), name.c_str(), type | perm, type == S_IFIFO ? 0 : num) != 0)
    return fail_errno("mknod " + d.path);
  // mknod is subject to the umask; set the exact mode and owner.
  if (::fchmodat(dfd->get(), name.c_str(), perm, 0) != 0) return fail_errno("chmod " + d.path);
  if (::fchownat(dfd->get(), name.c_str(), d.uid.value_or(0), d.gid.value_or(0),
                 AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno("chown " + d.path);
  return {};
}

Result<> create_devices(int root_fd, const std::vector<oci::Device>& devs, bool bind) {
  for (const auto& d : devs) VEIL_CHECK(create_one(root_fd, d, bind));
  return {};
}

Result<> create_symlinks(int root_fd, bool have_devpts) {
  auto dev = rootpath::open_in_root(root_fd, "/dev", O_DIRECTORY | O_RDONLY);
  if (!dev) return std::unexpected(dev.error());
  struct Link {
    const char* target;
    const char* name;
  };
  const Link links[] = {{"/proc/self/fd", "fd"},
                        {"/proc/self/fd/0", "stdin"},
                        {"/proc/self/fd/1", "stdout"},
                        {"/proc/self/fd/2", "stderr"}};
  for (const auto& l : links) {
    if (::symlinkat(l.target, dev->get(), l.name) != 0 && errno != EEXIST)
      return fail_errno(std::string("symlink /dev/") + l.name);
  }
  if (::access("/proc/kcore", F_OK) == 0) ::symlinkat("/proc/kcore", dev->get(), "core");
  if (have_devpts) {
    ::unlinkat(dev->get(), "ptmx", 0);
    if (::symlinkat("pts/ptmx", dev->get(), "ptmx") != 0) return fail_errno("symlink /dev/ptmx");
  }
  return {};
}

}  // namespace veil::devices
