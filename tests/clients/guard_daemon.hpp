// A private guard instance for the client tests: veil-guard's run directory and bpffs pins under
// names of this test process, its daemon, and the audit records it wrote. The environment that
// points veil at it (VEIL_GUARD_DIR, VEIL_GUARD_BPFFS) must reach veil through the client:
// containerd passes its environment to the shim, Podman needs containers.conf conmon_env_vars.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace veil::clients {

class GuardDaemon {
 public:
  explicit GuardDaemon(const std::string& dir);
  ~GuardDaemon();
  const std::string& run_dir() const { return run_dir_; }
  const std::string& bpffs() const { return bpffs_; }
  // "" when the daemon answers, else why not.
  std::string start();
  // Audit lines mentioning needle, waiting up to timeout_ms for the first.
  std::vector<std::string> records_with(const std::string& needle, int timeout_ms = 3000) const;

 private:
  std::string run_dir_, bpffs_;
  pid_t pid_ = -1;
};

}  // namespace veil::clients
