// The state file (state.json under --root), as `veil state/list/delete` read it. A state that
// loads must save and load again (what `veil start`/`update` do).
#include "common.hpp"
#include "runtime/state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = veil::fuzz::json_of(data, size);
  if (j.is_discarded()) return 0;
  auto s = veil::runtime::State::from_json(j);
  if (s && !veil::runtime::State::from_json(s->to_json())) __builtin_trap();
  return 0;
}
