// The VMM's jail: what QEMU runs in, so that a guest that takes over its VMM holds as little of
// the host as possible (docs/microvm.md, "The VMM's confinement").
//   - its own mount, IPC and UTS namespaces (and network namespace, unless it runs slirp): its
//     root is an empty read-only tmpfs with the system's /usr (read-only), /etc/ld.so.cache, a
//     few device nodes, and the files this machine uses (kernel, initramfs, disk, RAM file) at
//     their host paths; no /proc, /sys, /home, /run or other sandbox is there;
//   - its own uid, kVmmIdBase + the pid of the process that starts it (unique among the VMMs
//     alive; no VMM can signal or trace another, or own a host file), and the group kVmmIdBase,
//     which may read its disk image and read and write its RAM file (QEMU 7.2 opens even a
//     template's RAM file read-write for a private mapping); /dev/kvm's group with KVM;
//   - no capabilities (every set empty, SECBIT_NOROOT locked: exec cannot give any back);
//     no_new_privs;
//   - QEMU's own seccomp sandbox on top (machine.cpp).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "vm/machine.hpp"

namespace veil::vm {

// The VMMs' group, and the base of their uids (above any a distribution hands out).
inline constexpr uid_t kVmmIdBase = 0x40000000;

struct Jail {
  std::string root;  // an empty directory the jail's tmpfs is mounted on; empty: no jail
  bool own_net = true;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary (/dev/kvm's group)
  struct Entry {
    enum class Kind { dir, link, bind_dir_ro, bind_file_ro, bind_file_rw, bind_device } kind;
    std::string path;    // inside the jail (== the host path for binds)
    std::string source;  // binds: host path; link: the link's target
    std::string at;      // root + path: where it is made before the jail becomes the root
  };
  std::vector<Entry> entries;  // in order: parents before children
};

// The jail for this machine, its tmpfs on `root` (created here). VEIL_VM_JAIL=off: none.
Result<Jail> plan_jail(const MachineSpec& m, const std::string& root);

// In the forked child, before exec: enters the jail. Uses only system calls and the plan's
// strings (safe after fork). On failure writes "veil: VMM jail: <step>: <error>" to fd 2 and
// exits 127.
void enter_jail(const Jail& j);

}  // namespace veil::vm
