// Networking for a microVM without vhost (MICROVM.md §2): in the container's network namespace
// (made by CNI or containerd), a tap device joined to the namespace's veth both ways by tc
// (`u32` match-all + `mirred` redirect: this host has no matchall classifier). The guest takes
// the veth's MAC, IPv4 address, MTU and default route, so the pod keeps the address CNI gave it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::vm {

struct NicConfig {
  std::string ifname;   // the veth in the namespace (on the host)
  std::string tap;      // the tap made next to it
  std::string mac;      // aa:bb:cc:dd:ee:ff
  std::string address;  // dotted IPv4, "" when the veth has none
  int prefix = 0;
  std::string gateway;  // default route's gateway, "" when none
  int mtu = 1500;
  nlohmann::json to_json() const;  // what the agent gets in hello
};

// Moves the calling process into the network namespace at netns_path (the monitor and its QEMU
// only use the tap through its fd), takes the first interface that is not loopback, makes the
// tap and the redirections. Returns the tap's fd for QEMU. The host's own namespace (that of
// pid 1, or the caller's) is refused: its interfaces are never handed to a VM.
Result<Fd> plumb_netns(const std::string& netns_path, NicConfig* nic);
// Only moves the calling process into the network namespace at netns_path (a pod's sandbox VM
// holds the pod's namespace, so that /proc/<its pid>/ns/net names it for the pod's containers).
Result<> enter_netns(const std::string& netns_path);
// Removes the redirections from the veth (in the current namespace). The tap goes with its fd.
void unplumb(const NicConfig& nic);
// The same from outside: joins netns_path in a child process first (for `delete` after the
// monitor was killed).
void unplumb_in(const std::string& netns_path, const std::string& ifname);

}  // namespace veil::vm
