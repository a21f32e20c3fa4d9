// The starter config.json written by `veil spec`: the same content as runc 1.1's `runc spec`
// (libcontainer/specconv Example() and ToRootless()), with hostname "veil".
#include <linux/magic.h>
#include <sys/vfs.h>

#include <string>

#include "oci/spec.hpp"

namespace veil::oci {

using nlohmann::json;

namespace {

// runc adds a cgroup namespace only on a unified (cgroup v2) hierarchy.
bool cgroup2_unified() {
  struct statfs st {};
  return ::statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

json mount(const char* dest, const char* type, const char* source,
           std::initializer_list<const char*> options) {
  json m = {{"destination", dest}, {"type", type}, {"source", source}};
  if (options.size() > 0) m["options"] = json(options);
  return m;
}

json example_spec() {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json process = {
      {"terminal", true},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", {"sh"}},
      {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
      {"cwd", "/"},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };
  json mounts = json::array({
      mount("/proc", "proc", "proc", {}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
  });
  json namespaces = json::array();
  for (const char* ns : {"pid", "network", "ipc", "uts", "mount"})
    namespaces.push_back({{"type", ns}});
  if (cgroup2_unified()) namespaces.push_back({{"type", "cgroup"}});
  json lx = {
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
        "/proc/scsi"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}},
      {"namespaces", namespaces},
  };
  return {
      {"ociVersion", "1.0.2-dev"},
      {"process", process},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "veil"},
      {"mounts", mounts},
      {"linux", lx},
  };
}

// What an unprivileged user can run: a user namespace mapping root to the caller, no network
// namespace (it could not be configured), /sys bind-mounted from the host (sysfs cannot be
// mounted without a network namespace), no uid=/gid= mount options, no cgroup settings.
void to_rootless(json& spec, uid_t uid, gid_t gid) {
  json& lx = spec["linux"];
  json namespaces = json::array();
  for (const auto& ns : lx["namespaces"]) {
    auto type = ns["type"].get<std::string>();
    if (type != "network" && type != "user") namespaces.push_back(ns);
  }
  namespaces.push_back({{"type", "user"}});
  lx["namespaces"] = std::move(namespaces);
  lx["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", uid}, {"size", 1}}});
  lx["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", gid}, {"size", 1}}});

  json mounts = json::array();
  for (json m : spec["mounts"]) {
    if (m["destination"] == "/sys") {
      mounts.push_back(mount("/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}));
      continue;
    }
    if (m.contains("options")) {
      json options = json::array();
      for (const auto& o : m["options"]) {
        auto s = o.get<std::string>();
        if (!s.starts_with("uid=") && !s.starts_with("gid=")) options.push_back(o);
      }
      m["options"] = std::move(options);
    }
    mounts.push_back(std::move(m));
  }
  spec["mounts"] = std::move(mounts);
  lx.erase("resources");
}

}  // namespace

json default_spec(bool rootless, uid_t uid, gid_t gid) {
  json spec = example_spec();
  if (rootless) to_rootless(spec, uid, gid);
  return spec;
}

}  // namespace veil::oci
