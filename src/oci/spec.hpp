// The OCI runtime-spec (config.json) model: the subset of fields veil acts on, typed.
// Unknown fields are ignored; invalid ones are rejected by parse_spec() with the JSON path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::oci {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_* value
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Capability numbers (CAP_*), resolved from names at parse time.
struct Capabilities {
  std::vector<int> bounding, effective, inheritable, permitted, ambient;
};

struct ConsoleSize {
  unsigned height = 0;
  unsigned width = 0;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  std::string apparmor_profile;
  std::string selinux_label;
};

struct Root {
  std::string path;
  bool readonly = false;
};

struct Mount {
  std::string destination;
  std::string source;
  std::string type;
  std::vector<std::string> options;
};

enum class NsType { pid, network, mount, ipc, uts, user, cgroup, time };

struct Namespace {
  NsType type;
  std::string path;  // empty: create a new one
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct Device {
  std::string path;
  char type = 'c';  // 'c', 'b', 'u', 'p'
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::vector<Device> devices;
  std::string cgroups_path;
  std::map<std::string, std::string> sysctl;
  std::string rootfs_propagation;  // "", "private", "rprivate", "slave", "rslave", "shared", ...
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::map<std::string, TimeOffset> time_offsets;  // "monotonic" | "boottime"
  std::string mount_label;
  // Sections handled by later stages (cgroups, seccomp, personality…), kept as raw JSON so the
  // parts of veil that act on them see exactly what the user wrote.
  nlohmann::json resources;  // null when absent
  nlohmann::json seccomp;    // null when absent

  const Namespace* find(NsType t) const {
    for (const auto& n : namespaces)
      if (n.type == t) return &n;
    return nullptr;
  }
};

struct Spec {
  std::string oci_version;
  Root root;
  Process process;
  bool has_process = false;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;
};

// Names as they appear in config.json ("pid", "network", …).
const char* ns_type_name(NsType t);
std::optional<NsType> ns_type_from_name(std::string_view name);
// The CLONE_NEW* flag of a namespace type.
int ns_clone_flag(NsType t);

// Parses and validates config.json text. Errors name the JSON path and the problem, e.g.
// "linux.namespaces[2].type: unknown namespace \"foo\"".
Result<Spec> parse_spec(std::string_view json_text);
// Parses a lone process object (`veil exec --process FILE`); errors name paths as "process.…".
Result<Process> parse_process_json(std::string_view json_text);
// Reads <bundle>/config.json and parses it.
Result<Spec> load_spec(const std::string& bundle_dir);

// The config.json that `veil spec` writes (runc's default; --rootless adds a user namespace
// mapping the caller's uid/gid and drops what an unprivileged user cannot do).
nlohmann::json default_spec(bool rootless, uid_t uid, gid_t gid);

}  // namespace veil::oci
