// Guard policies (YAML, operator rules included). What veil-guard prepare hands to the runtime
// (Spec::to_json, read back with from_json) must round-trip for every policy it accepts.
#include <string>

#include "common.hpp"
#include "guard/policy/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spec = veil::guard::parse_policy(std::string(veil::fuzz::text(data, size)), "fuzz");
  if (spec && !veil::guard::Spec::from_json(spec->to_json())) __builtin_trap();
  return 0;
}
