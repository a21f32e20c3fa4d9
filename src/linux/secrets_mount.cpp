#include "linux/secrets_mount.hpp"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strings.hpp"
#include "linux/path_in_root.hpp"

namespace veil::secrets_mount {
namespace {

[[gnu::cold]] Result<> make_dir(int dirfd, const char* name, const std::string& what) {
  if (::mkdirat(dirfd, name, 0755) == 0) {
    // Not subject to the umask: the measurement counts this directory as mode 0755.
    if (::fchmodat(dirfd, name, 0755, 0) != 0) return fail_errno("chmod " + what);
    return {};
  }
  if (errno == EEXIST) return {};
  return fail_errno("create the secrets mount point " + what + " in the rootfs");
}

[[gnu::cold]] Result<> copy_in(int dirfd, SecretFile& f, uid_t uid, gid_t gid) {
  struct stat st;
  if (::fstat(f.fd.get(), &st) != 0) return fail_errno("secret " + f.name);
  if (static_cast<size_t>(st.st_size) != f.size)
    return fail("secret " + f.name + ": size changed in transit (" + std::to_string(f.size) +
                " bytes sent, " + std::to_string(st.st_size) + " arrived)");
  Fd out(
      ::openat(dirfd, f.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400));
  if (!out) return fail_errno("create " + std::string(kSecretsDir) + "/" + f.name);
  char buf[16384];
  off_t off = 0;
  Result<> r;
  while (static_cast<size_t>(off) < f.size) {
    ssize_t n = ::pread(f.fd.get(), buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r = fail_errno("read secret " + f.name);
      break;
    }
    ssize_t done = 0;
    while (done < n) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += w;
    }
    if (done != n) {
      r = fail_errno("write " + std::string(kSecretsDir) + "/" + f.name);
      break;
    }
    off += n;
  }
  ::explicit_bzero(buf, sizeof buf);
  if (!r) return r;
  if (::fchown(out.get(), uid, gid) != 0) {
    if (errno == EINVAL)
      return fail(strprintf("%s/%s: process.user %u:%u is not mapped in the container's user "
                            "namespace",
                            kSecretsDir, f.name.c_str(), uid, gid),
                  EINVAL);
    return fail_errno("chown " + std::string(kSecretsDir) + "/" + f.name);
  }
  if (::fchmod(out.get(), 0400) != 0) return fail_errno("chmod " + f.name);
  return {};
}

}  // namespace

[[gnu::cold]] bool valid_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

[[gnu::cold]] Result<> ensure_mountpoint(int root_fd) {
  VEIL_CHECK(make_dir(root_fd, "run", "/run"));
  auto run = rootpath::open_in_root(root_fd, "/run", O_PATH | O_DIRECTORY);
  if (!run) return std::unexpected(run.error().wrap("secrets mount point"));
  VEIL_CHECK(make_dir(run->get(), "secrets", kSecretsDir));
  auto dir = rootpath::open_in_root(root_fd, kSecretsDir, O_PATH | O_DIRECTORY);
  if (!dir) return std::unexpected(dir.error().wrap("secrets mount point"));
  return {};
}

[[gnu::cold]] Result<> install(const std::string& rootfs, std::vector<SecretFile>& files, uid_t uid,
                               gid_t gid) {
  Fd root(::open(rootfs.c_str(), O_DIRECTORY | O_PATH | O_CLOEXEC));
  if (!root) return fail_errno("open rootfs " + rootfs);
  // The config's mounts may have put a fresh tmpfs on /run: create the mount point again there.
  VEIL_CHECK(ensure_mountpoint(root.get()));
  auto target = VEIL_TRY(rootpath::open_in_root(root.get(), kSecretsDir, O_PATH | O_DIRECTORY));
  size_t bytes = 4096;
  for (const auto& f : files) bytes += (f.size + 4095) / 4096 * 4096;
  std::string data = strprintf("mode=0500,size=%zu,nr_inodes=%zu", bytes, files.size() + 8);
  if (::mount("tmpfs", rootpath::fd_path(target.get()).c_str(), "tmpfs",
              MS_NOSUID | MS_NODEV | MS_NOEXEC, data.c_str()) != 0)
    return fail_errno(std::string("mount tmpfs on ") + kSecretsDir);
  // Re-open: the fd above names the directory under the new mount, not the mount itself.
  auto top = VEIL_TRY(rootpath::open_in_root(root.get(), kSecretsDir, O_PATH | O_DIRECTORY));
  std::string top_path = rootpath::fd_path(top.get());
  if (::mount(nullptr, top_path.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
    return fail_errno(std::string("make ") + kSecretsDir + " private");
  auto dir = VEIL_TRY(rootpath::open_in_root(root.get(), kSecretsDir, O_DIRECTORY | O_RDONLY));
  for (auto& f : files) {
    if (!valid_name(f.name)) return fail("bad secret file name \"" + f.name + "\"");
    VEIL_CHECK(copy_in(dir.get(), f, uid, gid));
    f.fd.reset();
  }
  if (::fchown(dir.get(), uid, gid) != 0)
    return fail(strprintf("chown %s to process.user %u:%u", kSecretsDir, uid, gid), errno);
  if (::fchmod(dir.get(), 0500) != 0) return fail_errno(std::string("chmod ") + kSecretsDir);
  if (::mount(nullptr, top_path.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return fail_errno(std::string("remount ") + kSecretsDir + " read-only");
  return {};
}

Result<Fd> sealed_memfd(std::string_view data) {
  Fd fd(::memfd_create("veil-secret", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return fail_errno("memfd_create");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd.get(), data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fail_errno("write memfd");
    off += static_cast<size_t>(w);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
    return fail_errno("seal memfd");
  return fd;
}

}  // namespace veil::secrets_mount
