// cgroup v2 device control: a BPF_PROG_TYPE_CGROUP_DEVICE program generated from the device
// rules (raw instructions, no libbpf), loaded with bpf(BPF_PROG_LOAD) and attached to the
// container's cgroup with BPF_PROG_ATTACH (BPF_F_ALLOW_MULTI). An attached program lives as long
// as the cgroup: nothing has to stay open, and removing the cgroup detaches it.
//
// The program implements the semantics of cgroup_devices.hpp: it checks the rules from the last
// to the first; the first one that matches returns allow (1) or deny (0, the syscall gets EPERM).
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "linux/cgroup_devices.hpp"

namespace veil::cgroups::bpf_devices {

// The program for `rules` (compacted: an "a" rule may only come first).
std::vector<bpf_insn> build_program(const std::vector<DeviceRule>& rules);

// Loads a program into the kernel; a verifier refusal comes back with the verifier's log.
Result<Fd> load(const std::vector<bpf_insn>& insns);

// Attaches the program for `rules` to the cgroup v2 directory, replacing the device programs
// veil attached there before (atomically with BPF_F_REPLACE when there is one).
Result<> install(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules);

// Ids of the device programs attached directly to the cgroup directory.
Result<std::vector<uint32_t>> attached(const std::string& cgroup_dir);

}  // namespace veil::cgroups::bpf_devices
