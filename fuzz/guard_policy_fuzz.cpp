// Guard policies (YAML, operator rules included).
#include <string>

#include "common.hpp"
#include "guard/policy/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)veil::guard::parse_policy(std::string(veil::fuzz::text(data, size)), "fuzz");
  return 0;
}
