// What the agent does as /init of a veil microVM before it serves the host: the guest's own
// mounts (proc, sys, dev, run, cgroup2), the kernel modules shipped in the initramfs, and the
// control port. And what a sandbox's hello asks of a freshly cloned guest: its own clock and
// entropy.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::agent {

// pivot_root (which veil's container code uses) cannot leave the initramfs: the first /init
// copies itself and its modules to a tmpfs, moves that over /, and execs /init again there
// (argv[1] = "stage2"). Returns only on error.
Result<> leave_initramfs();

// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp and cgroup2 (with the cpu, memory and
// pids controllers enabled for children).
Result<> mount_basics();
// Loads the modules listed in /lib/modules/order (file names under /lib/modules), in order.
Result<> load_modules();
// Opens the virtio-serial port named vm::kAgentPortName (waiting for it to appear).
Result<Fd> open_port();
// Sets CLOCK_REALTIME and mixes seed into the kernel's RNG, then forces a reseed: a clone of a
// template must not produce the template's (or another clone's) random numbers.
Result<> refresh_identity(int64_t realtime_ns, const std::string& seed);
// Brings up lo, and eth0 (the VM's NIC) when net names its configuration:
// {"mac", "address", "prefix", "gateway", "mtu"} (the host's veth in the pod's namespace).
Result<> configure_network(const nlohmann::json& net);

// Mounts the rootfs image on /dev/vda (EROFS) read-only with a tmpfs overlay on top at `target`.
Result<> mount_rootfs(const std::string& target);
// The same for one container of a pod: the EROFS disk whose virtio serial is `serial` (or the
// boot disk /dev/vda for ""), mounted
// at <work>/lower with a tmpfs at <work>/upper, the overlay at target.
Result<> mount_pod_rootfs(const std::string& target, const std::string& serial,
                          const std::string& work);
// A tmpfs at dir (mode 1777) the first time: the pod's /dev/shm, shared by its containers.
Result<> mount_pod_shared(const std::string& dir);
// Undoes mount_pod_rootfs (lazily: nothing of the container may still use it).
void unmount_pod_rootfs(const std::string& target, const std::string& work);
// Mounts the host's shared directory `tag` (virtio-fs) at <dir>/<tag>, loading the fuse and
// virtiofs modules (shipped in the initramfs, not loaded at boot) the first time. Tags are
// "vol<N>".
Result<> mount_volume(const std::string& dir, const std::string& tag);

}  // namespace veil::agent
