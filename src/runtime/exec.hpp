// `exec`: runs another process in a running container: it joins every namespace and the cgroup of
// the container's process, then applies its own process spec (user, capabilities, rlimits, env,
// cwd, no_new_privs). Like the container process, it is a child of the caller (CLONE_PARENT), so
// containerd's shim can wait for it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "runtime/lifecycle.hpp"

namespace veil::runtime {

struct ExecOptions {
  std::string process_file;       // OCI process JSON; else the container's process with args
  std::vector<std::string> args;  // used when no process_file
  std::vector<std::string> env;   // appended ("K=V")
  std::string cwd;
  std::string user;               // "uid[:gid]"
  std::vector<std::string> caps;  // added to every set
  bool no_new_privs = false;
  bool detach = false;
  bool tty = false;
  std::string console_socket;
  std::string pid_file;
  int preserve_fds = 0;
  std::vector<uint32_t> additional_gids;  // -g: added to process.user.additionalGids
  // --cgroup: "PATH" (every hierarchy) or "CONTROLLER[,CONTROLLER]:PATH" (v1 hierarchies with
  // that controller), a sub-cgroup of the container's that must exist.
  std::vector<std::string> cgroups;
  bool ignore_paused = false;  // exec into a paused container (the process starts frozen)
};

// Foreground: waits (forwarding signals) and returns the process's exit status. Detached: 0.
Result<int> exec(const Globals& g, const std::string& id, const ExecOptions& opts);

}  // namespace veil::runtime
