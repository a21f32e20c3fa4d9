// One QEMU `microvm` machine: its command line (the fast-boot flags measured in MICROVM.md) and
// the VMM process, spawned with its control sockets and killed with its parent.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::vm {

// What the host can accelerate with: "kvm" when /dev/kvm opens and creates a VM, else "tcg".
struct Accel {
  std::string name;    // "kvm" | "tcg"
  std::string reason;  // why not kvm, when tcg
};
Accel probe_accel();

// The guest kernel and initramfs (built by scripts/vm-assets.sh).
struct Assets {
  std::string dir, kernel, initrd;
};
// $VEIL_VM_ASSETS, else <veil's dir>/vm, else /usr/local/lib/veil/vm; an error names where it
// looked and how to build them.
Result<Assets> find_assets();

struct MachineSpec {
  std::string qemu = "qemu-system-x86_64";
  std::string accel = "tcg";
  Assets assets;       // kernel/initrd: cold boot; a clone boots from migrated state instead
  bool clone = false;  // wait for an incoming migration (-incoming defer)
  int mem_mib = 128;
  int vcpus = 1;
  std::string mem_path;     // guest RAM in this file (a template's, or a template being made)
  bool mem_shared = false;  // share=on (making a template) or a private copy-on-write clone
  std::string disk;         // raw image for the rootfs disk (virtio-blk, read-only)
  int slots = 0;            // extra disks (vm::Shape::slots), backed by `disk` until swapped
  std::string log_path;     // QEMU's stderr
  bool sandbox = true;      // QEMU's seccomp sandbox
  int tap_fd = -1;          // the NIC's backend (fd 5 in QEMU); -1: the NIC has no peer
  bool user_net = false;    // or QEMU's user-mode network (slirp) as its backend
  std::string mac;          // the NIC's MAC at boot (a clone's comes from the template)
  std::string name;         // -name: the sandbox's vm directory, to tell VMMs apart in `ps`
  // Shared directories (virtio-fs): for each, a socket connected to its virtiofsd (fds 6, 7, …
  // in QEMU) and the tag the guest mounts. They need guest RAM QEMU can share (a memfd) and
  // modern virtio-mmio, and they block snapshots: such a machine is always cold-booted.
  std::vector<int> fs_fds;
  std::vector<std::string> fs_tags;
};

// The kernel command line: quiet, no serial console, the TSC rate, and the initcalls that cost
// the most under TCG turned off (docs/microvm.md).
std::string kernel_cmdline();
// The QEMU argv; the agent's chardev is fd 3 and QMP is fd 4 in the child.
std::vector<std::string> qemu_argv(const MachineSpec& m);

// Starts QEMU with agent_sock as fd 3, qmp_sock as fd 4 (and m.tap_fd as fd 5). It gets SIGKILL
// when the calling thread's process dies (PR_SET_PDEATHSIG): nothing outlives the monitor.
Result<pid_t> spawn_qemu(const MachineSpec& m, int agent_sock, int qmp_sock);

// The tail of QEMU's log, for error messages.
std::string qemu_log_tail(const std::string& path);

}  // namespace veil::vm
