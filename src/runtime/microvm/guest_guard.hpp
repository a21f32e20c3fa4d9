// The guard inside a microVM guest (docs/microvm.md "The guard inside the guest"), shared by the
// monitor (one container per VM) and the shim v2 (a pod per VM): the policy named by the
// org.veil.guard.policy annotation compiled on the host, and the guest's audit events brought
// into the host's audit stream.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"

namespace veil::runtime::microvm {

// {"spec": the compiled policy} for the agent's create request, null without the annotation.
// A bad policy, or one with exec allow/deny rules (decided by the guard daemon, which does not
// run in a guest), is an error naming it.
Result<nlohmann::json> guest_guard_request(const nlohmann::json& config);

// Hands a guard event from the guest to the host's guard daemon. The guest is not trusted with
// the container's identity: the id is set here.
void forward_guest_event(const std::string& payload, const std::string& container_id);

}  // namespace veil::runtime::microvm
