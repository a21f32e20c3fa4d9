// The guard daemon's control socket (<run dir>/guard.sock, SOCK_SEQPACKET): the runtime registers
// and unregisters containers with it. One JSON object per packet, optionally one fd attached
// (SCM_RIGHTS: a container's seccomp notify fd), as base/packet.hpp frames them. Every request gets
// one reply packet:
// {"ok":true} or {"ok":false,"error":"..."}.
//   {"op":"register","cgroup_id":N}   (+ notify fd)  the daemon reads the registry file for N,
//                                                    marks the container's mounts (fanotify) and
//                                                    answers the fd's notifications
//   {"op":"notify_fd","cgroup_id":N,"pid":P}  (+ fd)  an exec'd process's notify fd
//   {"op":"unregister","cgroup_id":N}
//   {"op":"ping"}
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "guard/instance.hpp"

namespace veil::guard {

// Sends one request (with fd when >= 0) and waits up to timeout_ms for the reply.
Result<nlohmann::json> control_call(const Instance& inst, const nlohmann::json& req, int fd = -1,
                                    int timeout_ms = 3000);
// True when a daemon answers ping.
bool daemon_running(const Instance& inst);

}  // namespace veil::guard
