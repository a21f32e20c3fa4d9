// A pod in one microVM: its containers (the sandbox first, then the pod's others, each on a disk
// slot of its own) and their processes, with containerd's task semantics — create, start, exec,
// kill, wait, delete, state — on top of the guest agent. Errors carry a code in Error::err:
// ENOENT (not found), EEXIST (exists), EBUSY (wrong state for the call); the task service maps
// them to gRPC codes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "shim/pod_vm.hpp"
#include "shim/publisher.hpp"
#include "vm/image_cache.hpp"

namespace veil::shim {

struct IoPaths {
  std::string in, out, err;
  bool terminal = false;
};

struct RootfsMount {
  std::string type, source;
  std::vector<std::string> options;
};

enum class ProcStatus { created = 1, running = 2, stopped = 3, paused = 4 };

struct ProcInfo {
  uint32_t pid = 0;
  ProcStatus status = ProcStatus::created;
  uint32_t exit_status = 0;
  int64_t exited_ns = 0;  // CLOCK_REALTIME
  IoPaths io;
  std::string bundle;
};

// Runs a job on the shim's main thread (which lives as long as the VM) and returns its result.
using MainRunner = std::function<Result<>(std::function<Result<>()>)>;

class Pod {
 public:
  Pod(Publisher& events, std::string state_dir, MainRunner on_main)
      : events_(events), state_dir_(std::move(state_dir)), on_main_(std::move(on_main)) {}

  Result<uint32_t> create(const std::string& id, const std::string& bundle,
                          const std::vector<RootfsMount>& rootfs, const IoPaths& io);
  Result<uint32_t> start(const std::string& id, const std::string& exec_id);
  Result<> exec(const std::string& id, const std::string& exec_id, const IoPaths& io,
                const nlohmann::json& process);
  Result<> kill(const std::string& id, const std::string& exec_id, int sig, bool all);
  // Blocks until the process exits (or the VM dies).
  Result<ProcInfo> wait(const std::string& id, const std::string& exec_id);
  Result<ProcInfo> state(const std::string& id, const std::string& exec_id);
  Result<ProcInfo> remove(const std::string& id, const std::string& exec_id);
  Result<std::vector<uint32_t>> pids(const std::string& id);
  Result<> pause(const std::string& id);
  Result<> resume(const std::string& id);
  Result<nlohmann::json> stats(const std::string& id);  // runc's stats object, from the guest
  Result<> update(const std::string& id, const nlohmann::json& resources);
  Result<> resize(const std::string& id, const std::string& exec_id, uint32_t w, uint32_t h);
  Result<> close_stdin(const std::string& id, const std::string& exec_id);
  bool empty();
  // Whether any create was asked for (a shim nobody used, or whose pod failed to start, goes).
  bool used() const { return used_; }
  // Stops the VM (SIGKILL) and unmounts what is left: the shim is going away.
  void stop();

 private:
  struct Proc {
    uint32_t agent_id = 0;  // the agent's process id for it
    ProcInfo info;
    std::shared_ptr<Fd> out, err;
    nlohmann::json spec;  // an exec's OCI process, from Exec until Start
    std::shared_ptr<std::atomic<bool>> exited = std::make_shared<std::atomic<bool>>(false);
    // CloseIO asked for the end of stdin; its pump (if any) sends it after the data.
    std::shared_ptr<std::atomic<bool>> stdin_closing = std::make_shared<std::atomic<bool>>(false);
    bool stdin_pumped = false;
  };
  struct Ctr {
    std::string id, bundle;
    bool sandbox = false;
    int slot = 0;  // disk slot (0: the sandbox's boot disk)
    vm::CachedImage image;
    bool rootfs_mounted = false;
    Proc init;
    std::map<std::string, Proc> execs;
  };

  Result<Proc*> find(const std::string& id, const std::string& exec_id);  // with mu_ held
  Result<uint32_t> agent_id_of(const std::string& id, const std::string& exec_id);
  void on_frame(vm::Frame f);
  void on_vm_death(const std::string& why);
  void exited(Ctr& c, Proc& p, uint32_t status);  // with mu_ held
  void open_stdin(Proc& p);
  void release(Ctr& c);

  Publisher& events_;
  std::string state_dir_;
  MainRunner on_main_;
  PodVm vm_;
  bool vm_started_ = false;
  std::atomic<bool> used_{false};
  int sandbox_guest_pid_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Ctr> ctrs_;
  std::map<uint32_t, std::pair<std::string, std::string>> by_agent_id_;  // → (container, exec)
  uint32_t next_agent_id_ = 1;
  bool slot_used_[kPodSlots + 1] = {};
};

}  // namespace veil::shim
