#include "guard/instance.hpp"

#include <cstdlib>

namespace veil::guard {

Instance Instance::from_env() {
  Instance i;
  if (const char* v = std::getenv("VEIL_GUARD_DIR"); v && *v) i.run_dir = v;
  if (const char* v = std::getenv("VEIL_GUARD_BPFFS"); v && *v) i.bpffs = v;
  if (const char* v = std::getenv("VEIL_GUARD_POLICY_DIR"); v && *v) i.policy_dir = v;
  return i;
}

}  // namespace veil::guard
