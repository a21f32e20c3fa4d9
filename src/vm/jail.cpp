#include "vm/jail.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "base/file.hpp"

namespace veil::vm {
namespace {

using Kind = Jail::Entry::Kind;

// Adds the directories above `path` (inside the jail) that are not there yet.
void add_parents(Jail& j, std::set<std::string>& made, const std::string& path) {
  for (size_t i = path.find('/', 1); i != std::string::npos; i = path.find('/', i + 1)) {
    std::string d = path.substr(0, i);
    if (made.insert(d).second) j.entries.push_back({Kind::dir, d, "", j.root + d});
  }
}

void add(Jail& j, std::set<std::string>& made, const std::string& host, Kind kind) {
  add_parents(j, made, host);
  made.insert(host);
  j.entries.push_back({kind, host, host, j.root + host});
}

bool is_directory(const char* path) {
  struct stat st;
  return ::lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// After fork nothing may allocate: the message is written piece by piece into QEMU's log (fd 2),
// which the monitor quotes when the VM does not come up.
[[noreturn]] void die(const char* step, const char* what, int err) {
  for (const char* s : {"veil: VMM jail: ", step, " ", what, ": ", ::strerrordesc_np(err), "\n"})
    if (s) (void)!::write(2, s, std::strlen(s));
  ::_exit(127);
}

void bind(const Jail::Entry& e) {
  if (::mount(e.source.c_str(), e.at.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    die("bind", e.source.c_str(), errno);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID;
  if (e.kind != Kind::bind_device) flags |= MS_NODEV;
  if (e.kind == Kind::bind_dir_ro || e.kind == Kind::bind_file_ro) flags |= MS_RDONLY;
  if (::mount(nullptr, e.at.c_str(), nullptr, flags, nullptr) != 0)
    die("remount", e.at.c_str(), errno);
}

void become_vmm(const Jail& j) {
  if (::prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) != 0)
    die("set", "securebits", errno);
  for (int cap = 0; cap <= 63; ++cap)
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      die("drop", "a capability from the bounding set", errno);
  // The ids last, while CAP_SETUID/SETGID are still effective (SECBIT_NO_SETUID_FIXUP).
  if (j.uid != 0) {
    if (::setgroups(j.groups.size(), j.groups.data()) != 0) die("set", "groups", errno);
    if (::setresgid(j.gid, j.gid, j.gid) != 0) die("set", "the VMM's gid", errno);
    if (::setresuid(j.uid, j.uid, j.uid) != 0) die("set", "the VMM's uid", errno);
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    die("clear", "ambient capabilities", errno);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &hdr, data) != 0) die("clear", "capabilities", errno);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("set", "no_new_privs", errno);
}

}  // namespace

Result<Jail> plan_jail(const MachineSpec& m, const std::string& root) {
  Jail j;
  if (const char* off = ::getenv("VEIL_VM_JAIL"); off && std::strcmp(off, "off") == 0) return j;
  VEIL_CHECK(mkdir_all(root, 0700));
  j.root = root;
  j.own_net = !m.user_net;
  j.uid = kVmmIdBase + static_cast<uid_t>(::getpid());
  j.gid = kVmmIdBase;
  // What QEMU opens by path: readable (disk) or writable (RAM) by the VMMs' group only.
  auto share = [&](const std::string& path, mode_t mode) -> Result<> {
    if (::chown(path.c_str(), 0, j.gid) != 0 || ::chmod(path.c_str(), mode) != 0)
      return fail_errno("give the VMM access to " + path);
    return {};
  };
  std::set<std::string> made;
  // The system QEMU and its libraries, modules and firmware come from (merged /usr: the top-level
  // directories are links into it; where one is a real directory it is bound read-only).
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    if (auto target = read_link(top); !target.empty())
      j.entries.push_back({Kind::link, top, target, j.root + top});
    else if (is_directory(top))
      add(j, made, top, Kind::bind_dir_ro);
  }
  add(j, made, "/usr", Kind::bind_dir_ro);
  if (path_exists("/etc/ld.so.cache")) add(j, made, "/etc/ld.so.cache", Kind::bind_file_ro);
  if (m.user_net && path_exists("/etc/resolv.conf"))  // slirp's DNS forwards to the host's
    add(j, made, "/etc/resolv.conf", Kind::bind_file_ro);
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"})
    add(j, made, dev, Kind::bind_device);
  if (m.accel == "kvm") {
    add(j, made, "/dev/kvm", Kind::bind_device);
    struct stat st;
    if (::stat("/dev/kvm", &st) == 0 && st.st_gid != 0) j.groups.push_back(st.st_gid);
  }
  if (!m.clone) {
    add(j, made, m.assets.kernel, Kind::bind_file_ro);
    add(j, made, m.assets.initrd, Kind::bind_file_ro);
  }
  add(j, made, m.disk, Kind::bind_file_ro);
  VEIL_CHECK(share(m.disk, 0640));
  if (!m.mem_path.empty()) {
    // QEMU 7.2 opens the RAM file read-write even for a private (copy-on-write) mapping. A
    // template being made is created here so that it can be bound.
    if (!path_exists(m.mem_path)) {
      int fd = ::open(m.mem_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0) return fail_errno("create the VM's RAM file " + m.mem_path);
      ::close(fd);
    }
    add(j, made, m.mem_path, Kind::bind_file_rw);
    VEIL_CHECK(share(m.mem_path, 0660));
  }
  return j;
}

void enter_jail(const Jail& j) {
  if (j.root.empty()) return;
  int ns = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (j.own_net ? CLONE_NEWNET : 0);
  if (::unshare(ns) != 0) die("unshare", "namespaces", errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    die("make private", "/", errno);
  if (::mount("veil-vmm", j.root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0755,size=64k") != 0)
    die("mount tmpfs on", j.root.c_str(), errno);
  for (const auto& e : j.entries) {
    const char* at = e.at.c_str();
    switch (e.kind) {
      case Kind::dir:
        if (::mkdir(at, 0755) != 0 && errno != EEXIST) die("mkdir", at, errno);
        break;
      case Kind::link:
        if (::symlink(e.source.c_str(), at) != 0) die("symlink", at, errno);
        break;
      case Kind::bind_dir_ro:
        if (::mkdir(at, 0755) != 0 && errno != EEXIST) die("mkdir", at, errno);
        bind(e);
        break;
      case Kind::bind_file_ro:
      case Kind::bind_file_rw:
      case Kind::bind_device: {
        int fd = ::open(at, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) die("create", at, errno);
        ::close(fd);
        bind(e);
        break;
      }
    }
  }
  if (::mount(nullptr, j.root.c_str(), nullptr,
              MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") != 0)
    die("remount read-only", j.root.c_str(), errno);
  if (::chdir(j.root.c_str()) != 0) die("chdir", j.root.c_str(), errno);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root", j.root.c_str(), errno);
  if (::umount2(".", MNT_DETACH) != 0) die("detach", "the host's root", errno);
  if (::chdir("/") != 0) die("chdir", "/", errno);
  become_vmm(j);
}

}  // namespace veil::vm
