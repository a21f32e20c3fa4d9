// The container lifecycle as runc defines it: create → start → (exit) → delete, plus run, kill,
// state and list. Each call takes the container's lock, so commands on one container serialise.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "linux/secrets_mount.hpp"
#include "runtime/state.hpp"

namespace veil::runtime {

struct Globals {
  std::string root = "/run/veil";
  bool systemd_cgroup = false;
  // The handler for containers that do not name one (annotation org.veil.handler): "" or
  // "container" (this kernel), or "microvm". Set when veil runs as `veil-vm`, or by
  // VEIL_DEFAULT_HANDLER.
  std::string default_handler;
};

struct CreateOptions {
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
  // Inside a microVM guest (veil-agent): the guard policy compiled on the host with the BPF
  // program set the agent loaded, as JSON {"spec", "mechs"}. The container gets the policy's
  // in-container parts (seccomp, Landlock, vm.memfd_noexec); the agent does the BPF part.
  std::string guest_guard;
  // Inside a microVM guest: the secrets the host fetched for org.veil.secrets (sealed memfds),
  // installed at /run/secrets as on a host. Consumed by create.
  std::vector<secrets_mount::SecretFile>* guest_secrets = nullptr;
};

// Sets up the container and leaves its process waiting for `start`. Returns its pid.
// On failure nothing is left behind: no state directory, cgroup, mount or process.
// With process.terminal the pty master goes to --console-socket, or, when console_out is given
// (foreground run), to *console_out.
Result<pid_t> create(const Globals& g, const std::string& id, const CreateOptions& opts,
                     Fd* console_out = nullptr);
// Lets the created container's process exec the configured program.
Result<> start(const Globals& g, const std::string& id);
// create + start; in the foreground, waits (forwarding signals), deletes the container and returns
// its exit status (128+N when killed by signal N). With detach, returns 0 once started.
// keep: leave the stopped container for `state`/`delete` instead of deleting it (runc's --keep).
Result<int> run(const Globals& g, const std::string& id, const CreateOptions& opts, bool detach,
                bool keep = false);
Result<> kill(const Globals& g, const std::string& id, int sig, bool all);
// Stopped (or created) containers are removed; running ones only with force (SIGKILL first).
Result<> remove(const Globals& g, const std::string& id, bool force);

// Freezes / thaws every process of a running container.
Result<> pause(const Globals& g, const std::string& id);
Result<> resume(const Globals& g, const std::string& id);
// Applies a linux.resources object to a created, running or paused container.
Result<> update(const Globals& g, const std::string& id, const nlohmann::json& resources);
// Host pids of every process in the container's cgroup.
Result<std::vector<pid_t>> pids(const Globals& g, const std::string& id);

struct Listed {
  State state;
  Status status;
};
Result<Listed> inspect(const Globals& g, const std::string& id);
std::vector<Listed> list(const Globals& g);

// The status of a container from its saved state and what the kernel says about its process.
Status current_status(const State& s, const ContainerDir& dir);

}  // namespace veil::runtime
