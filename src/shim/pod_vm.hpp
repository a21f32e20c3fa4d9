// The pod's microVM as the shim drives it: booted (a template clone with disk slots) in the pod's
// network namespace, greeted, and then a frame channel to its agent. A reader thread hands each
// frame to the pod (on_frame); a request that expects an answer (created, started, updated,
// reply, or error) waits for it with a deadline, and fails at once when the VM dies.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/error.hpp"
#include "vm/boot.hpp"
#include "vm/frame.hpp"
#include "vm/net.hpp"

namespace veil::shim {

// Disk slots per pod VM besides the sandbox's own disk: the containers a pod may run at once
// (microvm has 8 virtio-mmio transports: console, disk, NIC and these).
inline constexpr int kPodSlots = 4;
// The pod VM's RAM (no hotplug on microvm): the containers' limits apply inside it.
inline constexpr int kPodGuestMiB = 256;

struct PodVmConfig {
  std::string vm_dir;  // QEMU's log, the jail's root; removed when the VM stops
  std::string netns;   // the pod's network namespace (CNI), "" for none
  std::string disk;    // the sandbox container's rootfs image
  int timeout_ms = 60'000;
};

class PodVm {
 public:
  using FrameSink = std::function<void(vm::Frame)>;
  using DeathSink = std::function<void(const std::string& why)>;

  // Boots and greets the guest. Must run on a thread that lives as long as the VM (QEMU dies with
  // the thread that started it: PR_SET_PDEATHSIG), and moves that thread into cfg.netns.
  Result<> boot(const PodVmConfig& cfg, FrameSink on_frame, DeathSink on_death);
  bool alive() const { return alive_; }
  pid_t qemu_pid() const { return guest_.qemu; }

  Result<> send(vm::FrameType t, uint32_t proc, std::string_view payload);
  // Sends and waits for proc's answer (any of created, started, updated, reply; error fails).
  Result<vm::Frame> ask(vm::FrameType t, uint32_t proc, std::string_view payload, int timeout_ms);
  // Points disk slot i at the image behind fd (vm::attach_slot).
  Result<> attach(int slot, int image_fd, int timeout_ms);
  // Kills QEMU, undoes the network plumbing and removes the VM's files.
  void stop();

 private:
  Result<> start();  // boot's steps
  void read_loop();
  std::optional<vm::Frame> take_answer(uint32_t proc);

  PodVmConfig cfg_;
  vm::Guest guest_;
  std::optional<vm::Template> template_;
  vm::NicConfig nic_;
  bool plumbed_ = false;
  std::atomic<bool> alive_{false};
  std::mutex send_mu_, qmp_mu_, mu_;
  std::condition_variable cv_;
  std::map<uint32_t, std::optional<vm::Frame>> answers_;  // proc → its answer, once it came
  FrameSink on_frame_;
  DeathSink on_death_;
  std::thread reader_;
};

}  // namespace veil::shim
