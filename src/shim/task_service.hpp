// containerd.task.v2.Task over ttrpc: each method decodes its request, calls the pod and encodes
// the answer; the pod's error codes become gRPC codes (NotFound, AlreadyExists,
// FailedPrecondition). Checkpoint is not registered: containerd gets Unimplemented.
#pragma once

#include <functional>

#include "shim/pod.hpp"
#include "ttrpc/server.hpp"

namespace veil::shim {

// on_shutdown: called once a Shutdown finds the pod empty (after the reply is sent).
void register_task_service(ttrpc::Server& server, Pod& pod, std::function<void()> on_shutdown);

}  // namespace veil::shim
