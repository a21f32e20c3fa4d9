// linux.sysctl: only namespaced keys are allowed, and only when the container has its own
// namespace of that kind (net.* needs a network namespace, kernel.shm*/msg*/sem* and fs.mqueue.*
// an IPC namespace, kernel.hostname/domainname a UTS namespace).
#pragma once

#include <map>
#include <string>

#include "base/error.hpp"
#include "oci/spec.hpp"

namespace veil::sysctl {

// Checks every key against the container's namespaces; the error names the key and the reason.
Result<> validate(const oci::Spec& spec);
// Writes each value to /proc/sys/<key with '.' → '/'>; run inside the container's namespaces.
Result<> apply(const std::map<std::string, std::string>& values);

}  // namespace veil::sysctl
