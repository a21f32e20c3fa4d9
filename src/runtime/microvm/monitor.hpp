// The monitor: the one host process per microVM sandbox (its pid is the container's pid in
// `state`). Forked by `create` into the container's cgroup, it builds the rootfs image, starts the
// guest (a template clone or a cold boot), greets the agent with this sandbox's token, clock and
// entropy, has it create the container, and reports to `create`. Then it waits for `start` (the
// exec fifo), relays stdio and signals, serves `veil exec` (vm/exec.sock), and exits with the
// workload's exit status, after stopping QEMU and removing the VM's files.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/microvm/guest_config.hpp"
#include "vm/boot.hpp"

namespace veil::runtime::microvm {

struct MonitorConfig {
  std::string id;
  std::string vm_dir;  // <state dir>/vm: image, QEMU log, exec socket
  std::string rootfs;  // the bundle's rootfs on the host
  nlohmann::json create_request;
  vm::Shape shape;
  vm::Assets assets;
  bool use_template = true;
  std::string netns;       // the container's network namespace (CNI): the VM's NIC is joined to it
  std::string hold_netns;  // or, for a pod's sandbox container, a namespace only held (see create)
  bool user_net = false;   // or user-mode networking (slirp), when asked
  std::vector<Volume> volumes;  // writable directory volumes: virtio-fs, and then a cold boot
  int fifo_fd = -1;             // the exec fifo, O_RDWR
  int status_fd = -1;           // "ok …\n" or "error …" to `create`, then closed
  int lock_fd = -1;             // the state directory's lock: closed first
  int tty_fd = -1;              // process.terminal: the host pty's slave, the container's stdio
  int timeout_ms = 60'000;
};

// cfg is the monitor's own (it runs in the forked child): secrets in its create request are
// wiped once the guest has them.
[[noreturn]] void run_monitor(MonitorConfig& cfg);

// The unix socket `veil exec` talks to.
inline std::string exec_socket(const std::string& vm_dir) {
  return vm_dir + "/exec.sock";
}

}  // namespace veil::runtime::microvm
