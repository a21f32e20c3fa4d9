// OCI hooks (config.json "hooks"): each hook is a host program run with the container state JSON on
// its stdin, its own args/env, and an optional timeout.
//
// When the runtime calls what (runtime-spec config.md "POSIX-platform Hooks" and runtime.md
// "Lifecycle"). state_json = State::public_json(<status>).dump() with the status the container has
// at that moment (runc: "creating" for the create-time hooks, "created" for startContainer,
// "running" for poststart, "stopped" for poststop), and "pid" = the container process.
//   - prestart (deprecated) then createRuntime: during `veil create`, in the runtime's namespaces,
//     after the container's namespaces exist (stage 2's pid is known) and before pivot_root, i.e.
//     before stage 2 is told to continue past its mounts. Use run(); an error aborts create and
//     everything is cleaned up.
//   - createContainer: in the container's namespaces (run by the container init, after the mounts
//     and before pivot_root, so `path` still resolves on the host). run(); error aborts create.
//   - startContainer: by the container init after `veil start` released it, right before
//     execve(process.args); `path` resolves inside the container. run(); on error the init must
//     exit without exec'ing (start then reports the error / the container stops).
//   - poststart: by `veil start`, after the process was released, before start returns. The spec
//     says a failure is only a warning: run_all_logged(). (runc instead fails start and kills the
//     container; use run() for that behaviour.)
//   - poststop: by `veil delete` after the container process is gone, before the state directory
//     and cgroups are removed. run_all_logged(); failures never make delete fail.
// These functions only run the programs: they never enter namespaces themselves, so the calling
// process must already be where the spec wants the hook to run.
// `phase` is the spec's spelling ("createRuntime", "poststop", …); it only appears in messages.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "oci/spec.hpp"

namespace veil::hooks {

// Output kept per stream for error messages (the last bytes, the hook may print a lot).
inline constexpr size_t kOutputLimit = 4096;

// Runs one hook: posix_spawn(path, args, env) in its own process group, with state_json on stdin
// (a sealed memfd: the hook can read it at its own pace or not at all), stdout and stderr captured
// (last kOutputLimit bytes each). args[0] is argv[0]; with no args argv is {path}. env is exactly
// hook.env (empty: empty environment). With a timeout, the whole process group is SIGKILLed when it
// expires and the error says "timed out after N s". Messages name the hook:
//   hooks.prestart[1] "/usr/bin/hook": exited with status 3; stderr: "…"
// Blocks until the hook exits (does not wait for background children that keep its pipes open).
Result<> run_one(const oci::Hook& hook, const std::string& state_json, const char* phase,
                 size_t index);

// Runs the hooks in order and stops at the first failure, which is returned. For createRuntime,
// prestart, createContainer, startContainer and poststart.
Result<> run(const std::vector<oci::Hook>& hooks, const std::string& state_json, const char* phase);

// Runs every hook in order; a failure is logged as a warning (base/log.hpp) and the next hook still
// runs. Returns the number of hooks that failed. For poststop.
size_t run_all_logged(const std::vector<oci::Hook>& hooks, const std::string& state_json,
                      const char* phase);

}  // namespace veil::hooks
