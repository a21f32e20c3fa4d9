// Resource usage of a container's cgroup, as the "data" of runc's `events` stats event
// (runc types.Stats: cpu, cpuset, memory, pids, blkio, hugetlb, intel_rdt, network_interfaces),
// with the same field names, field order and omitempty rules, read from cgroup v1, v2 or the
// hybrid mix. Each controller is read where the container has it: the v1 file when its v1
// hierarchy is mounted, else the cgroup v2 file.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace veil::cgroups {

// The stats object for the container's cgroup directories (as in its state file). Fails only
// when none of the directories exists any more (the container is gone).
Result<nlohmann::ordered_json> collect_stats(const std::vector<std::string>& dirs);

// Parsers for cgroup file formats (exposed for tests).
// "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat).
std::map<std::string, uint64_t> parse_flat_keyed(std::string_view text);
// "0-3,5" → {0,1,2,3,5}.
std::vector<uint16_t> parse_cpu_list(std::string_view text);
// A single number, or "max" → max_value.
uint64_t parse_uint(std::string_view text, uint64_t max_value = UINT64_MAX);

struct BlkioEntry {
  uint64_t major = 0, minor = 0;
  std::string op;
  uint64_t value = 0;
};
// v1 "8:0 Read 4096" lines (the "Total" line is skipped).
std::vector<BlkioEntry> parse_blkio_v1(std::string_view text);
// v2 io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4 …" → (service bytes, serviced) entries.
void parse_io_stat(std::string_view text, std::vector<BlkioEntry>& bytes,
                   std::vector<BlkioEntry>& ios);
// PSI: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" (+ "full …") → runc's PSIStats.
nlohmann::ordered_json parse_psi(std::string_view text);

}  // namespace veil::cgroups
