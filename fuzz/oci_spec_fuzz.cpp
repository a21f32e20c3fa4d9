// config.json (parse + validation, hooks and annotations included) and `exec --process` JSON.
#include "common.hpp"
#include "oci/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = veil::fuzz::text(data, size);
  (void)veil::oci::parse_spec(t);
  (void)veil::oci::parse_process_json(t);
  return 0;
}
