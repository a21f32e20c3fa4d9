// Loads the guard's BPF programs once per host (libbpf skeleton built at compile time), pins
// maps and links in bpffs, and records in the `meta` map which program set is attached:
// BPF LSM where the kernel allows it (VEIL_GUARD_NO_LSM: never), otherwise the exec tracepoint
// alone; the cgroup socket programs (egress) in both.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"
#include "guard/instance.hpp"

namespace veil::guard {

struct LoadResult {
  uint32_t mechs = 0;       // VG_MECHS_*
  bool reused = false;      // already loaded with this ABI: nothing done
  std::string lsm_refusal;  // why BPF LSM was not used (when it was not)
};

// Idempotent: when the pins exist with this ABI, reuses them (unless replace).
Result<LoadResult> load(const Instance& inst, bool replace);
// Detaches everything this instance pinned and removes the pins.
Result<> unload(const Instance& inst);

// The sum over CPUs of one slot (VG_STAT_*) of the pinned per-CPU `stats` map; 0 when unreadable.
uint64_t stat_total(int stats_fd, uint32_t slot);

// Human-readable mechanism bits: "lsm:exec,lsm:wx,tp_btf:exec,cgroup:net".
std::string mechs_string(uint32_t mechs);

}  // namespace veil::guard
