#include "guard/instance.hpp"

#include <unistd.h>

#include <cstdlib>

#include "base/subprocess.hpp"

namespace veil::guard {

Instance Instance::from_env() {
  Instance i;
  if (const char* v = std::getenv("VEIL_GUARD_DIR"); v && *v) i.run_dir = v;
  if (const char* v = std::getenv("VEIL_GUARD_BPFFS"); v && *v) i.bpffs = v;
  if (const char* v = std::getenv("VEIL_GUARD_POLICY_DIR"); v && *v) i.policy_dir = v;
  return i;
}

std::string guard_binary() {
  if (const char* v = std::getenv("VEIL_GUARD_BIN"); v && *v) return v;
  std::string next = self_dir() + "/veil-guard";
  if (::access(next.c_str(), X_OK) == 0) return next;
  for (const char* p : {"/usr/local/bin/veil-guard", "/usr/bin/veil-guard"})
    if (::access(p, X_OK) == 0) return p;
  return next;
}

}  // namespace veil::guard
