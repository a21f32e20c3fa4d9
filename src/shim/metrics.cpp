#include "shim/metrics.hpp"

#include "metrics.pb.h"

namespace veil::shim {

using nlohmann::json;

namespace {
uint64_t num(const json& j, std::initializer_list<const char*> path) {
  const json* at = &j;
  for (const char* k : path) {
    if (!at->is_object() || !at->contains(k)) return 0;
    at = &(*at)[k];
  }
  return at->is_number_unsigned() || at->is_number_integer() ? at->get<uint64_t>() : 0;
}
}  // namespace

std::string metrics_from_stats(const json& s) {
  io::containerd::cgroups::v2::Metrics m;
  auto* pids = m.mutable_pids();
  pids->set_current(num(s, {"pids", "current"}));
  pids->set_limit(num(s, {"pids", "limit"}));
  auto* cpu = m.mutable_cpu();
  cpu->set_usage_usec(num(s, {"cpu", "usage", "total"}) / 1000);
  cpu->set_user_usec(num(s, {"cpu", "usage", "user"}) / 1000);
  cpu->set_system_usec(num(s, {"cpu", "usage", "kernel"}) / 1000);
  cpu->set_nr_periods(num(s, {"cpu", "throttling", "periods"}));
  cpu->set_nr_throttled(num(s, {"cpu", "throttling", "throttled_periods"}));
  cpu->set_throttled_usec(num(s, {"cpu", "throttling", "throttled_time"}) / 1000);
  auto* mem = m.mutable_memory();
  mem->set_usage(num(s, {"memory", "usage", "usage"}));
  mem->set_usage_limit(num(s, {"memory", "usage", "limit"}));
  mem->set_max_usage(num(s, {"memory", "usage", "max"}));
  mem->set_swap_usage(num(s, {"memory", "swap", "usage"}));
  mem->set_swap_limit(num(s, {"memory", "swap", "limit"}));
  mem->set_anon(num(s, {"memory", "raw", "anon"}));
  mem->set_file(num(s, {"memory", "raw", "file"}));
  mem->set_kernel_stack(num(s, {"memory", "raw", "kernel_stack"}));
  mem->set_slab(num(s, {"memory", "raw", "slab"}));
  mem->set_sock(num(s, {"memory", "raw", "sock"}));
  mem->set_shmem(num(s, {"memory", "raw", "shmem"}));
  mem->set_file_mapped(num(s, {"memory", "raw", "file_mapped"}));
  mem->set_inactive_anon(num(s, {"memory", "raw", "inactive_anon"}));
  mem->set_active_anon(num(s, {"memory", "raw", "active_anon"}));
  mem->set_inactive_file(num(s, {"memory", "raw", "inactive_file"}));
  mem->set_active_file(num(s, {"memory", "raw", "active_file"}));
  mem->set_pgfault(num(s, {"memory", "raw", "pgfault"}));
  mem->set_pgmajfault(num(s, {"memory", "raw", "pgmajfault"}));
  return m.SerializeAsString();
}

}  // namespace veil::shim
