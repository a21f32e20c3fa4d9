// The identity the container process runs with: user, groups, and the five capability sets,
// applied in the order that keeps the capabilities across the uid change.
#pragma once

#include "base/error.hpp"
#include "oci/spec.hpp"

namespace veil::credentials {

// Drops the bounding set, switches uid/gids (keeping capabilities), then sets effective,
// permitted, inheritable and ambient. Without a capabilities object the process keeps none.
Result<> apply(const oci::User& user, const std::optional<oci::Capabilities>& caps);

// The last capability this kernel knows (from /proc/sys/kernel/cap_last_cap).
int last_cap();

}  // namespace veil::credentials
