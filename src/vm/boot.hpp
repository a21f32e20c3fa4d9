// Getting a guest to "agent ready": a cold boot, or a clone of a template — one guest booted once
// per host and shape, saved with its RAM in /dev/shm (QEMU migration with x-ignore-shared), that
// each sandbox maps copy-on-write. docs/microvm.md explains the choices and their cost.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "vm/frame.hpp"
#include "vm/machine.hpp"
#include "vm/qmp.hpp"

namespace veil::vm {

// The size of the rootfs disk every template (and so every clone) has; an image must fit.
inline constexpr int kDiskMiB = 1024;

struct Shape {
  std::string accel = "tcg";
  int mem_mib = 128;
  int vcpus = 1;
  // Extra read-only disks whose image can be swapped while the guest runs (attach_slot): a pod's
  // containers (the shim v2) each get one. Part of the device layout, so of the template's key.
  int slots = 0;
};

struct Template {
  std::string dir, mem, state;
  // A shared lock on the template while it is in use: it is never removed under a sandbox that
  // starts from it (or maps it), nor while it is being built (exclusive).
  Fd lock;
};

// The template for this shape and these assets: reused when present, else booted and saved
// (under an exclusive lock: concurrent sandboxes wait for one build). Templates made for other
// assets of the same shape are removed when nobody uses them. Bounded by timeout_ms. The result
// holds a shared lock: keep it while the sandbox runs.
Result<Template> ensure_template(const Assets& a, const Shape& s, int timeout_ms);

// A running guest whose agent is ready for hello.
struct Guest {
  pid_t qemu = -1;
  Fd agent;  // the control channel (non-blocking)
  std::unique_ptr<Qmp> qmp;
  FrameReader reader;
  std::string how;                        // "clone" | "cold boot"
  std::map<int, std::string> slot_files;  // disk slot → the file node it reads now
};

// What a sandbox's machine has besides its rootfs disk.
struct Devices {
  std::string name;         // QEMU's -name: the sandbox's vm directory (to tell VMMs apart)
  int tap_fd = -1;          // the NIC's backend (net.hpp), or -1
  bool user_net = false;    // or QEMU's user-mode network
  std::vector<int> fs_fds;  // shared directories: sockets to their virtiofsd
  std::vector<std::string> fs_tags;  // (virtiofs.hpp); only with a cold boot
};

// Starts a guest with `disk` as its rootfs disk: a clone of t when given, else a cold boot.
// QEMU's stderr goes to log_path. On error nothing is left running.
Result<Guest> start_guest(const Assets& a, const Shape& s, const Template* t,
                          const std::string& disk, const std::string& log_path, int timeout_ms,
                          const Devices& dev = {});

// The accelerator to use: KVM only when it really boots this guest (a /dev/kvm can exist and
// still fail on the first instruction it cannot virtualise, as on PVM hosts): probed with one
// boot, remembered per host boot in /dev/shm/veil-vm. TCG otherwise, with the reason.
Accel choose_accel(const Assets& a);

// Serial of extra disk slot i (1-based), as the guest sees it in /sys/block/vd*/serial.
std::string slot_serial(int i);
// Points disk slot i of a running guest at the image `image_fd` (read-only) instead of what it
// held: the image is handed over the QMP socket (add-fd), opened as a new node and swapped in
// under the slot's disk (blockdev-reopen); the node it replaces is deleted. The image must have
// the slot's size (vm::kDiskMiB). The guest must not have the slot mounted.
Result<> attach_slot(Guest& g, int i, int image_fd, int timeout_ms);

// Stops QEMU: SIGKILL and reap (the guest holds nothing worth a clean shutdown).
void stop_guest(Guest& g);

}  // namespace veil::vm
