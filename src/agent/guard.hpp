// The guard inside a microVM (docs/microvm.md): the guard's BPF programs loaded into the guest
// kernel (BPF LSM works there), the container's guest cgroup registered with the policy the host
// compiled, and the ring buffer's events formatted as the guard daemon formats them, for the
// host's audit stream. The seccomp, Landlock and memfd parts of a policy are not applied in the
// guest (the BPF programs carry drift, fileless, reverse-shell and egress rules).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "guard/instance.hpp"
#include "guard/registry.hpp"
#include "guard/spec.hpp"

struct ring_buffer;

namespace veil::agent {

class GuestGuard {
 public:
  GuestGuard();
  ~GuestGuard();
  // Loads the programs (once) for a container with this compiled policy ({"spec": …}).
  Result<> start(const nlohmann::json& policy);
  // Registers the container whose process is pid (its guest cgroup) under id.
  Result<> attach(const std::string& id, pid_t pid);
  // The fd to poll for events (-1 before start).
  int fd() const;
  // Formats and hands every pending event to emit.
  void drain(const std::function<void(nlohmann::json)>& emit);
  bool active() const { return rb_ != nullptr; }
  // For the guest's veil (CreateOptions::guest_guard): the compiled policy and the program set
  // loaded here, so that it applies the policy's in-container parts (seccomp, Landlock,
  // vm.memfd_noexec) the way it would on a host with that set. "" before start.
  std::string container_plan() const;

 private:
  guard::Instance inst_;
  guard::Spec spec_;
  nlohmann::json compiled_;
  uint32_t mechs_ = 0;
  ring_buffer* rb_ = nullptr;
  std::function<void(nlohmann::json)>* emit_ = nullptr;
  struct Formatter;
  std::unique_ptr<Formatter> fmt_;
};

}  // namespace veil::agent
