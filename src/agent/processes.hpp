// The agent's processes: the container (through a "keeper" child that calls veil's own
// runtime::create/start in the guest and mirrors the container's exit) and the processes exec'd
// into it (runtime::exec in a child). Each has pipes for its stdio; the agent relays them as
// frames.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::agent {

inline constexpr const char* kGuestRoot = "/run/veil";           // veil's state root in the guest
inline constexpr const char* kGuestBundle = "/run/veil-bundle";  // config.json of the container
inline constexpr const char* kGuestRootfs = "/run/veil-rootfs";  // its rootfs (overlay)

// Left by a container's keeper when the OOM killer ended the container (read and removed by the
// agent, which says "oom" in the exit frame).
inline std::string oom_marker(const std::string& id) {
  return "/run/veil-oom-" + id;
}

struct Proc {
  uint32_t id = 0;
  pid_t child = -1;      // keeper (process 0) or exec child
  Fd in, out, err;       // our ends: stdin (write), stdout/stderr (read), non-blocking
  Fd status;             // keeper: "pid N\n" (+ the pty master) or "error: …" (a socket)
  Fd tty;                // the container's pty master (process.terminal), replaces in/out/err
  Fd start;              // keeper: one byte starts the container (write)
  pid_t guest_pid = -1;  // the container's pid (process 0) / the exec child
  std::string pending_in;
  bool stdin_closed = false;
  bool exited = false;
  int wait_status = 0;
  int64_t exited_at_ms = 0;
  int64_t spawned_at_ms = 0;  // when the keeper was forked (for the created frame's timings)
  int64_t mount_ms = 0;       // how long the rootfs mounts took
};

// Forks the keeper for container `id`.
// guest_guard: GuestGuard::container_plan() ("" without a guard policy).
// A secret of org.veil.secrets as the host fetched it: file name and plaintext.
struct Secret {
  std::string name, data;
};
// secrets: put into sealed memfds by the keeper for the guest's veil to mount.
// bundle: the directory of its config.json (kGuestBundle, or a pod container's own); proc_id: the
// process id its frames carry (0 outside a pod).
Result<Proc> spawn_container(const std::string& id, const std::string& bundle, uint32_t proc_id,
                             const std::string& guest_guard = "",
                             const std::vector<Secret>& secrets = {});
// Signals a process of the agent. An exec'd process runs under runtime::exec's child, which
// forwards every signal but SIGKILL: that one goes to the whole tree, so a timed-out ExecSync's
// command does not stay behind.
void signal_process(const Proc& p, int sig);
// Forks a child that runs runtime::exec for the OCI process object in the container.
Result<Proc> spawn_exec(const std::string& id, uint32_t proc_id, const nlohmann::json& process);

}  // namespace veil::agent
