// Exec decisions before the exec happens: fanotify FAN_OPEN_EXEC_PERM marks on every mount of a
// guarded container (placed through /proc/<pid>/root). The kernel holds the exec until the daemon
// answers; a denied exec fails with EPERM in the container. Decides drift and fileless (when
// enforced: in audit mode the BPF side reports them) and the exec allow/deny lists. Allowed
// files get an ignore mark (the kernel's own cache, dropped when the file is modified) unless a
// container has path rules; allow-listed files are also recorded in the BPF `approved` map,
// which the exec tracepoint checks when the daemon is down.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "guard/daemon/containers.hpp"
#include "guard/daemon/sink.hpp"

namespace veil::guard {

class ExecGate {
 public:
  Result<> open();
  int fd() const { return fan_.get(); }
  bool needs_marks(const Container& c) const;
  // Marks the container's mounts (its init must be alive).
  Result<> mark(Container& c);
  // Answers every pending permission event.
  void handle(Containers& containers, Sink& sink, int approved_map_fd);
  uint64_t decisions() const { return decisions_; }
  uint64_t denied() const { return denied_; }

 private:
  struct Verdict {
    bool deny = false;
    const char* rule = nullptr;  // set when the decision is worth an event
    const char* action = nullptr;
    std::string detail;
    bool approve = false;  // on the allow list: record for the BPF backstop
  };
  Verdict decide(Container& c, int fd, const std::string& path);
  Result<std::string> sha256_of(int fd);
  Fd fan_;
  uint64_t decisions_ = 0, denied_ = 0;
  std::map<std::string, std::string> hash_cache_;  // "dev:ino:ctime:size" -> hex
};

}  // namespace veil::guard
