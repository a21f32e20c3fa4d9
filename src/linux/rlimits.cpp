#include "linux/rlimits.hpp"

#include <sys/resource.h>

namespace veil::rlimits {

Result<> apply(const std::vector<oci::Rlimit>& limits) {
  for (const auto& l : limits) {
    struct rlimit rl {
      static_cast<rlim_t>(l.soft), static_cast<rlim_t>(l.hard)
    };
    if (::setrlimit(static_cast<__rlimit_resource>(l.resource), &rl) != 0)
      return fail_errno("setrlimit " + l.type + " soft=" + std::to_string(l.soft) +
                        " hard=" + std::to_string(l.hard));
  }
  return {};
}

}  // namespace veil::rlimits
