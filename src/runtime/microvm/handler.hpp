// The microvm handler: a container whose config asks for it (annotation org.veil.handler:
// microvm, or veil's default handler) runs in its own QEMU microVM with a guest kernel, behind the
// same lifecycle. docs/microvm.md.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "runtime/lifecycle.hpp"

namespace veil::runtime::microvm {

inline constexpr const char* kHandlerName = "microvm";

// Whether a container with these annotations runs in a microVM under globals g. An unknown
// handler name is an error that names it.
Result<bool> wanted(const Globals& g, const std::map<std::string, std::string>& annotations);

struct CreateInput {
  std::string bundle, rootfs, config_text;
};

// `create` for a microVM container: state directory, host cgroup, monitor, guest.
// With process.terminal, the host side of the terminal (a pty whose other end the monitor relays
// to the guest's) goes to --console-socket or, for a foreground run, to *console_out.
Result<pid_t> create(const Globals& g, const std::string& id, const CreateOptions& opts,
                     const CreateInput& in, Fd* console_out = nullptr);

// At delete: what a monitor killed with SIGKILL could not undo (the tc redirections in the pod's
// network namespace). QEMU died with it; the VM directory goes with the state directory.
void cleanup_after_monitor(const Globals& g, const std::string& id);

// The VM directory of a container (inside its state directory).
std::string vm_dir(const Globals& g, const std::string& id);

}  // namespace veil::runtime::microvm
