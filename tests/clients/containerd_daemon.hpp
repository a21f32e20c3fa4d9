// A private containerd for the client tests: its root, state, sockets and config under a temp dir,
// the CRI plugin configured as docs/kubernetes.md says (runtimes `runc` and `veil`, the latter
// with BinaryName = the built veil), optionally with a CNI network; started and stopped within
// bounds, and never outliving the test process.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "client_util.hpp"

namespace veil::clients {

// The image every client test runs, and the pod sandbox ("pause") image of the CRI tests.
inline constexpr const char* kImage = "docker.io/veiltest/busybox:latest";
inline constexpr const char* kPauseImage = "docker.io/veiltest/pause:latest";

struct ContainerdOptions {
  std::string veil = kVeil;  // BinaryName of the `veil` runtime
  std::string cni_conf_dir;  // non-empty: the CRI plugin's CNI configuration directory
  std::string veil_vm;       // non-empty: a `veil-vm-runc` runtime with this BinaryName
  std::string veil_shim;     // non-empty: a `veil-vm` runtime, the shim v2 at this path
};

class ContainerdDaemon {
 public:
  ContainerdDaemon() = default;
  ContainerdDaemon(const ContainerdDaemon&) = delete;
  ContainerdDaemon& operator=(const ContainerdDaemon&) = delete;
  ~ContainerdDaemon() { stop(); }

  // The config for a containerd whose files all live under dir.
  static std::string config(const std::string& dir, const ContainerdOptions& o);
  // Writes the config and starts containerd; "" once it answers (within 20 s), else why not
  // (with its log).
  std::string start(const std::string& dir, const ContainerdOptions& o = {});
  // SIGTERM, then SIGKILL after 10 s. Idempotent.
  void stop();
  bool running() const { return pid_ > 0; }

  const std::string& socket() const { return sock_; }
  const std::string& dir() const { return dir_; }
  // Where the `veil` runtime keeps veil's state (its Root; the shim appends the namespace).
  std::string runc_root() const { return dir_ + "/runc"; }
  std::string log() const { return read(dir_ + "/containerd.log"); }
  // Its warnings and errors (for the test log).
  std::vector<std::string> complaints() const;

  // ctr against this daemon in namespace ns.
  Cmd ctr(std::vector<std::string> args, const std::string& ns, int timeout_ms = 60000) const;

 private:
  std::string dir_, sock_;
  pid_t pid_ = -1;
};

// A CNI network as a cluster's simplest: Debian's `bridge` plugin on `bridge` (made by the plugin,
// removed by remove_cni_bridge) with `host-local` addresses from subnet_prefix + "0/24"
// ("10.1.2."), their store under dir/ipam. Writes dir/cni/10-<name>.conflist.
void write_cni_bridge(const std::string& dir, const std::string& name, const std::string& bridge,
                      const std::string& subnet_prefix);
void remove_cni_bridge(const std::string& bridge);

// The fenced block after the line "<!-- tested: MARKER" of a doc (docs/kubernetes.md): what the
// tests run is what the docs say. "" when the doc has no such block.
std::string doc_block(const std::string& marker, const std::string& doc = "docs/kubernetes.md");

// Lines of s, empty ones dropped.
std::vector<std::string> lines_of(const std::string& s);

}  // namespace veil::clients
