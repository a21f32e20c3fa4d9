// Container state kept under --root/<id>/state.json, written atomically, guarded by a lock on
// the container directory so concurrent commands on one container serialise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "linux/cgroup_devices.hpp"
#include "oci/spec.hpp"

namespace veil::runtime {

enum class Status { creating, created, running, paused, stopped };
const char* status_name(Status s);

struct State {
  std::string oci_version;
  std::string id;
  pid_t pid = 0;
  uint64_t pid_start_time = 0;  // guards against pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  std::string owner;
  std::map<std::string, std::string> annotations;
  bool creating = false;  // set until `create` finished
  std::vector<std::string> cgroup_dirs;
  cgroups::DeviceState devices;  // device rules in force and how they are enforced
  // Hooks that run after create returned (the bundle may be gone by then).
  std::vector<oci::Hook> poststart, poststop;
  // The guard registration (runtime/guard_setup.hpp); null when the container is not guarded.
  nlohmann::json guard;
  // "microvm" when the container runs in its own VM (runtime/microvm); empty: this kernel.
  std::string handler;

  // The runtime-spec state object (what `veil state` prints), with the given status.
  nlohmann::json public_json(Status s) const;
  nlohmann::json to_json() const;
  static Result<State> from_json(const nlohmann::json& j);
};

// Valid ids: letters, digits, '_', '+', '-', '.'; not "." or "..", at most 1024 characters.
Result<> validate_id(const std::string& id);

class ContainerDir {
 public:
  const std::string& path() const { return path_; }
  const std::string& id() const { return id_; }
  std::string fifo_path() const { return path_ + "/exec.fifo"; }
  // The locked directory fd; a forked child must close it or it keeps the lock.
  int lock_fd() const { return lock_.get(); }
  Result<State> load() const;
  Result<> save(const State& s) const;
  // Removes the directory (the lock goes with it).
  Result<> remove();

 private:
  friend class StateStore;
  std::string path_, id_;
  Fd lock_;
};

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  // Makes <root>/<id> (fails with "container \"id\" already exists") and locks it exclusively.
  Result<ContainerDir> create(const std::string& id) const;
  // Locks an existing container ("container \"id\" does not exist" otherwise).
  Result<ContainerDir> open(const std::string& id, bool exclusive) const;
  // Ids of all containers, sorted.
  std::vector<std::string> list() const;

 private:
  std::string root_;
};

}  // namespace veil::runtime
