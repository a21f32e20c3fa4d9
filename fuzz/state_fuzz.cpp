// The state file (state.json under --root), as `veil state/list/delete` read it.
#include "common.hpp"
#include "runtime/state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = veil::fuzz::json_of(data, size);
  if (!j.is_discarded()) (void)veil::runtime::State::from_json(j);
  return 0;
}
