#include "linux/rootfs.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/file.hpp"
#include "linux/devices.hpp"
#include "linux/mount_options.hpp"
#include "linux/mount_sources.hpp"
#include "linux/mountinfo.hpp"
#include "linux/path_in_root.hpp"
#include "linux/tmpcopyup.hpp"

namespace veil::rootfs {
namespace {

using mounts::MountOptions;

// Flags the kernel locks on a mount (in a user namespace they cannot be cleared by a remount),
// read from the mount itself so a read-only remount keeps them.
unsigned long locked_flags(const std::string& path) {
  struct statvfs sv;
  if (::statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

Result<> apply_attrs(int fd, const MountOptions& o, const std::string& dest) {
  if (!o.attr_set && !o.attr_clr) return {};
  struct mount_attr attr {};
  attr.attr_set = o.attr_set;
  attr.attr_clr = o.attr_clr;
  if (::syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    return fail_errno("mount_setattr " + dest);
  return {};
}

bool fd_is_dir(int fd) {
  struct stat st;
  return ::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode);
}

bool source_is_dir(const std::string& src) {
  struct stat st;
  return ::stat(src.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
}

// Mounts a cgroup view at dest: cgroup2 hosts get the container's own cgroup directory; v1 and
// hybrid hosts get a tmpfs with one directory per hierarchy, each a bind of the container's cgroup.
Result<> mount_cgroup(const Context& ctx, int root_fd, const oci::Mount& m, const MountOptions& o) {
  auto target = rootpath::mkdir_in_root(root_fd, m.destination);
  if (!target) return std::unexpected(target.error());
  const auto* layout = ctx.cgroup_layout;
  if (!layout || ctx.cgroup_dirs.size() != layout->hierarchies.size())
    return fail("mount " + m.destination + ": no cgroup placement for this container");
  unsigned long ro = o.flags & MS_RDONLY;
  unsigned long keep = o.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME);
  if (layout->mode == cgroups::Mode::v2) {
    std::string t = rootpath::fd_path(target->get());
    if (::mount(ctx.cgroup_dirs[0].c_str(), t.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return fail_errno("bind cgroup onto " + m.destination);
    auto top = rootpath::open_in_root(root_fd, m.destination, O_PATH);
    if (!top) return std::unexpected(top.error());
    std::string tp = rootpath::fd_path(top->get());
    if (::mount(nullptr, tp.c_str(), nullptr, MS_REMOUNT | MS_BIND | ro | keep | locked_flags(tp),
                nullptr) != 0)
      return fail_errno("remount " + m.destination);
    return {};
  }
  std::string t = rootpath::fd_path(target->get());
  if (::mount("tmpfs", t.c_str(), "tmpfs", keep, "mode=755") != 0)
    return fail_errno("mount tmpfs on " + m.destination);
  for (size_t i = 0; i < layout->hierarchies.size(); ++i) {
    const auto& h = layout->hierarchies[i];
    std::string sub = m.destination + "/" + h.name;
    auto d = rootpath::mkdir_in_root(root_fd, sub);
    if (!d) return std::unexpected(d.error());
    std::string dp = rootpath::fd_path(d->get());
    if (::mount(ctx.cgroup_dirs[i].c_str(), dp.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return fail_errno("bind cgroup onto " + sub);
    auto top = rootpath::open_in_root(root_fd, sub, O_PATH);
    if (!top) return std::unexpected(top.error());
    std::string tp = rootpath::fd_path(top->get());
    if (::mount(nullptr, tp.c_str(), nullptr, MS_REMOUNT | MS_BIND | ro | keep | locked_flags(tp),
                nullptr) != 0)
      return fail_errno("remount " + sub);
    // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as on the host.
    if (h.name.find(',') != std::string::npos) {
      auto dir = rootpath::open_in_root(root_fd, m.destination, O_DIRECTORY | O_RDONLY);
      if (!dir) return std::unexpected(dir.error());
      size_t s = 0;
      while (s <= h.name.size()) {
        size_t e = h.name.find(',', s);
        if (e == std::string::npos) e = h.name.size();
        std::string alias = h.name.substr(s, e - s);
        ::symlinkat(h.name.c_str(), dir->get(), alias.c_str());
        s = e + 1;
      }
    }
  }
  if (ro) {
    auto top = rootpath::open_in_root(root_fd, m.destination, O_PATH);
    if (!top) return std::unexpected(top.error());
    std::string tp = rootpath::fd_path(top->get());
    if (::mount(nullptr, tp.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | keep, nullptr) != 0)
      return fail_errno("remount " + m.destination + " read-only");
  }
  return {};
}

// proc and sysfs only on an ordinary directory (or one we create): a symlink there — /proc ->
// /host/... in a hostile image — is refused rather than followed, even within the root (runc's
// CVE-2019-19921 hardening).
Result<> refuse_symlink_target(int root_fd, const oci::Mount& m) {
  struct open_how how {};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string rel = m.destination;
  while (rel.starts_with("/")) rel.erase(0, 1);
  if (rel.empty()) return fail("mount " + m.destination + ": " + m.type + " cannot cover the root");
  Fd fd(static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how)));
  if (!fd) {
    if (errno == ENOENT) return {};
    if (errno == ELOOP)
      return fail("mount " + m.destination + ": " + m.type +
                  " must be mounted on an ordinary directory, not through a symlink");
    return fail_errno("mount " + m.destination);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail_errno("stat " + m.destination);
  if (!S_ISDIR(st.st_mode))
    return fail("mount " + m.destination + ": " + m.type +
                " must be mounted on an ordinary directory");
  return {};
}

Result<> mount_one(const Context& ctx, int root_fd, const oci::Mount& m, int source_fd) {
  auto parsed = mounts::parse_mount_options(m.options);
  if (!parsed) return std::unexpected(parsed.error().wrap("mount " + m.destination));
  MountOptions o = *parsed;
  if (m.type == "cgroup" || m.type == "cgroup2") return mount_cgroup(ctx, root_fd, m, o);

  bool bind = o.is_bind() || m.type == "bind";
  if (bind) o.flags |= MS_BIND;
  if (m.type == "proc" || m.type == "sysfs") VEIL_CHECK(refuse_symlink_target(root_fd, m));
  // A read-only /dev is mounted writable and remounted read-only in finalize(), once devpts,
  // shm, mqueue and the device nodes exist (as runc).
  if (m.destination == "/dev" && !bind) o.flags &= ~MS_RDONLY;
  bool dir_source = source_fd >= 0 ? fd_is_dir(source_fd) : source_is_dir(m.source);
  Result<Fd> target = (bind && !dir_source) ? rootpath::touch_in_root(root_fd, m.destination)
                                            : rootpath::mkdir_in_root(root_fd, m.destination);
  if (!target) return std::unexpected(target.error().wrap("mount " + m.destination));
  std::string tpath = rootpath::fd_path(target->get());

  if (bind && source_fd >= 0) {
    VEIL_CHECK(mount_sources::attach(source_fd, tpath, o.flags & MS_REC,
                                     m.source + " on " + m.destination));
  } else if (bind) {
    if (::mount(m.source.c_str(), tpath.c_str(), nullptr, o.flags & (MS_BIND | MS_REC), nullptr) !=
        0)
      return fail_errno("bind-mount " + m.source + " on " + m.destination);
  } else {
    // A tmpfs with tmpcopyup starts with the content of the directory it covers.
    Fd lower;
    if (o.tmpcopyup && m.type == "tmpfs")
      lower = Fd(::openat(target->get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    unsigned long flags = o.flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
    const char* data = o.data.empty() ? nullptr : o.data.c_str();
    if (::mount(m.source.c_str(), tpath.c_str(), m.type.c_str(), flags, data) != 0) {
      int err = errno;
      // Without a network namespace of its own (or in a user namespace) the kernel refuses a
      // fresh sysfs; fall back to a recursive bind of the host's /sys, as runc does.
      if (m.type == "sysfs" && (err == EPERM || err == EBUSY)) {
        if (::mount("/sys", tpath.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
          return fail_errno("bind-mount /sys on " + m.destination);
        o.flags |= MS_BIND;
      } else {
        return fail("mount " + m.type + " on " + m.destination, err);
      }
    }
    if (lower) {
      auto top = rootpath::open_in_root(root_fd, m.destination, O_DIRECTORY | O_RDONLY);
      if (!top) return std::unexpected(top.error());
      if (auto r = tmpcopyup::copy_tree(lower.get(), top->get()); !r)
        return std::unexpected(r.error().wrap("tmpcopyup " + m.destination));
    }
  }

  // Re-open: the fd above names the directory under the new mount, not the mount itself.
  auto top = rootpath::open_in_root(root_fd, m.destination, O_PATH);
  if (!top) return std::unexpected(top.error());
  std::string top_path = rootpath::fd_path(top->get());
  unsigned long extra = o.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if ((o.flags & MS_BIND) && extra) {
    if (::mount(nullptr, top_path.c_str(), nullptr,
                MS_REMOUNT | MS_BIND | extra | locked_flags(top_path), nullptr) != 0)
      return fail_errno("remount " + m.destination);
  }
  for (unsigned long p : o.propagation) {
    if (::mount(nullptr, top_path.c_str(), nullptr, p, nullptr) != 0)
      return fail_errno("set propagation of " + m.destination);
  }
  return apply_attrs(top->get(), o, m.destination);
}

// The mount point of the mount that holds `path` (the last, i.e. topmost, of the longest match).
std::string parent_mount(const std::string& path) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return "";
  std::string best;
  for (const auto& e : mountinfo::parse(*text)) {
    const std::string& mp = e.mountpoint;
    bool under = mp == "/" || path == mp || (path.starts_with(mp) && path[mp.size()] == '/');
    if (under && mp.size() >= best.size()) best = mp;
  }
  return best;
}

bool mounts_dev_bind(const oci::Spec& s) {
  for (const auto& m : s.mounts) {
    if (m.destination != "/dev") continue;
    if (m.type == "bind") return true;
    for (const auto& o : m.options)
      if (o == "bind" || o == "rbind") return true;
  }
  return false;
}

bool mounts_devpts(const oci::Spec& s) {
  for (const auto& m : s.mounts)
    if (m.destination == "/dev/pts" && m.type == "devpts") return true;
  return false;
}

}  // namespace

Result<> prepare(const Context& ctx) {
  const auto& spec = *ctx.spec;
  auto prop = mounts::parse_propagation(spec.linux.rootfs_propagation);
  if (!prop) return std::unexpected(prop.error().wrap("linux.rootfsPropagation"));
  // Nothing we mount may leak back to the host: make our copy of the tree slave (default) or what
  // rootfsPropagation asks for.
  // Only shared propagation is applied to the whole copy now (Bidirectional volumes must stay
  // peers of the host); the others start as rslave — nothing flows back to the host, and an
  // unbindable tree would refuse every bind below — and are applied to the container's "/" in
  // finalize(), as given ("unbindable" is not recursive, "runbindable" is).
  unsigned long root_prop = (*prop & MS_SHARED) ? *prop : (MS_SLAVE | MS_REC);
  if (::mount(nullptr, "/", nullptr, root_prop, nullptr) != 0)
    return fail_errno("set propagation of /");
  // pivot_root needs the new root's parent mount not to be shared (EINVAL with rshared): with a
  // shared copy, make that one mount private (our copy only; the config's own shared mounts, e.g.
  // Kubernetes' Bidirectional volumes, stay peers). rslave leaves nothing shared, so the default
  // path reads no mountinfo.
  if (root_prop & MS_SHARED)
    if (auto parent = parent_mount(ctx.rootfs); !parent.empty())
      if (::mount(nullptr, parent.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
        return fail_errno("make the rootfs's parent mount " + parent + " private");
  if (::mount(ctx.rootfs.c_str(), ctx.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return fail_errno("bind-mount rootfs " + ctx.rootfs);
  if (::mount(nullptr, ctx.rootfs.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
    return fail_errno("make rootfs private");

  Fd root_fd(::open(ctx.rootfs.c_str(), O_DIRECTORY | O_PATH | O_CLOEXEC));
  if (!root_fd) return fail_errno("open rootfs " + ctx.rootfs);

  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    int src = ctx.source_fds && i < ctx.source_fds->size() ? (*ctx.source_fds)[i] : -1;
    VEIL_CHECK(mount_one(ctx, root_fd.get(), spec.mounts[i], src));
  }

  bool dev_bound = mounts_dev_bind(spec);
  if (!dev_bound) {
    VEIL_CHECK(devices::create_devices(root_fd.get(), devices::default_devices(), ctx.new_userns));
    VEIL_CHECK(devices::create_symlinks(root_fd.get(), mounts_devpts(spec)));
  }
  VEIL_CHECK(devices::create_devices(root_fd.get(), spec.linux.devices, ctx.new_userns));
  return {};
}

Result<> detach_host_proc_and_sys(const std::string& rootfs) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return std::unexpected(text.error());
  auto entries = mountinfo::parse(*text);
  // Deepest first, so that /proc/sys/fs/binfmt_misc-style submounts go before their parents.
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const auto& e = *it;
    if (e.root != "/" || (e.fstype != "proc" && e.fstype != "sysfs")) continue;
    if (e.mountpoint == rootfs || e.mountpoint.starts_with(rootfs + "/")) continue;
    (void)::mount(nullptr, e.mountpoint.c_str(), nullptr, MS_SLAVE | MS_REC, nullptr);
    if (::umount2(e.mountpoint.c_str(), MNT_DETACH) != 0) {
      if (errno != EINVAL && errno != EPERM && errno != ENOENT)
        return fail_errno("detach the host's " + e.fstype + " at " + e.mountpoint);
      // Not ours to unmount (locked in a user namespace): cover it instead.
      if (errno != ENOENT && ::mount("tmpfs", e.mountpoint.c_str(), "tmpfs", MS_RDONLY, "size=0k"))
        return fail_errno("cover the host's " + e.fstype + " at " + e.mountpoint);
    }
  }
  return {};
}

Result<> enter(const Context& ctx) {
  if (ctx.no_pivot) {
    // The old root stays in this mount namespace under the chroot: detach every full proc and
    // sysfs mount of the host first, or the kernel would count them as visible (and allow a
    // fresh, unmasked procfs mount) and a chroot escape would find them (as runc's msMoveRoot).
    VEIL_CHECK(detach_host_proc_and_sys(ctx.rootfs));
    if (::chdir(ctx.rootfs.c_str()) != 0) return fail_errno("chdir " + ctx.rootfs);
    if (::mount(ctx.rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) != 0)
      return fail_errno("move rootfs to /");
    if (::chroot(".") != 0) return fail_errno("chroot");
    if (::chdir("/") != 0) return fail_errno("chdir /");
    return {};
  }
  Fd old_root(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!old_root) return fail_errno("open /");
  Fd new_root(::open(ctx.rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!new_root) return fail_errno("open rootfs " + ctx.rootfs);
  if (::fchdir(new_root.get()) != 0) return fail_errno("chdir rootfs");
  // pivot_root(".", ".") stacks the old root on top of the new one; detach it from there.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return fail_errno("pivot_root");
  if (::fchdir(old_root.get()) != 0) return fail_errno("chdir old root");
  if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
    return fail_errno("make old root slave");
  if (::umount2(".", MNT_DETACH) != 0) return fail_errno("detach old root");
  if (::chdir("/") != 0) return fail_errno("chdir /");
  return {};
}

static Result<> mask_path(const std::string& p) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno("stat masked path " + p);
  }
  if (S_ISDIR(st.st_mode)) {
    if (::mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY, "size=0k") != 0)
      return fail_errno("mask " + p);
  } else if (::mount("/dev/null", p.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return fail_errno("mask " + p);
  }
  return {};
}

static Result<> readonly_path(const std::string& p) {
  if (::mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno("bind readonly path " + p);
  }
  if (::mount(nullptr, p.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(p),
              nullptr) != 0)
    return fail_errno("remount " + p + " read-only");
  return {};
}

// The config's /dev mount asked for `ro` (mount_one mounted it writable).
bool dev_readonly(const oci::Spec& s) {
  for (const auto& m : s.mounts) {
    if (m.destination != "/dev" || m.type == "bind") continue;
    auto o = mounts::parse_mount_options(m.options);
    if (o && !o->is_bind() && (o->flags & MS_RDONLY)) return true;
  }
  return false;
}

Result<> finalize(const Context& ctx) {
  const auto& spec = *ctx.spec;
  if (dev_readonly(spec) &&
      ::mount(nullptr, "/dev", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags("/dev"),
              nullptr) != 0)
    return fail_errno("remount /dev read-only");
  for (const auto& p : spec.linux.masked_paths) VEIL_CHECK(mask_path(p));
  for (const auto& p : spec.linux.readonly_paths) VEIL_CHECK(readonly_path(p));
  if (spec.root.readonly) {
    if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags("/"),
                nullptr) != 0)
      return fail_errno("remount / read-only");
  }
  auto prop = mounts::parse_propagation(spec.linux.rootfs_propagation);
  if (prop && *prop) {
    if (::mount(nullptr, "/", nullptr, *prop, nullptr) != 0)
      return fail_errno("set propagation of / to " + spec.linux.rootfs_propagation);
  }
  return {};
}

}  // namespace veil::rootfs
