// The seccomp compiler: any linux.seccomp object (compiled, never loaded).
#include "common.hpp"
#include "linux/seccomp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = veil::fuzz::json_of(data, size);
  if (!j.is_discarded()) (void)veil::seccomp::compile(j);
  return 0;
}
