#include "shim/pod_config.hpp"

#include "base/strings.hpp"
#include "runtime/microvm/guest_config.hpp"

namespace veil::shim {

using nlohmann::json;

namespace {

constexpr const char* kBinds = "/run/veil-binds/";
constexpr const char* kPod = "/run/veil-pod";

std::string fnv_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return strprintf("%016llx", static_cast<unsigned long long>(h));
}

bool had_path(const json& config, const std::string& type) {
  if (!config.contains("linux") || !config["linux"].contains("namespaces")) return false;
  for (const auto& ns : config["linux"]["namespaces"])
    if (ns.is_object() && ns.value("type", "") == type && ns.contains("path")) return true;
  return false;
}

}  // namespace

Result<PodGuestConfig> pod_guest_config(const std::string& id, const json& config, uint32_t proc,
                                        int sandbox_pid) {
  auto gc = VEIL_TRY(runtime::microvm::guest_config(config));
  PodGuestConfig out;
  out.netns = runtime::microvm::network_namespace_path(config);
  json& c = gc.config;
  std::string dir = strprintf("%s/%u", kPod, proc);
  c["root"]["path"] = dir + "/rootfs";
  // Each container's carried files in a directory of its own.
  std::string binds = strprintf("%sc%u/", kBinds, proc);
  auto rebase = [&](std::string p) {
    return p.starts_with(kBinds) ? binds + p.substr(std::string(kBinds).size()) : p;
  };
  for (auto& f : gc.files) f["path"] = rebase(f.value("path", std::string()));
  json pod_dirs = json::array();
  if (c.contains("mounts"))
    for (auto& m : c["mounts"]) {
      std::string src = m.value("source", "");
      if (src.starts_with(kBinds)) m["source"] = rebase(src);
      // The pod's /dev/shm (CRI binds the sandbox's into every container): one tmpfs in the guest.
      if (m.value("destination", "") == "/dev/shm")
        m = {{"destination", "/dev/shm"},
             {"type", "bind"},
             {"source", std::string(kPod) + "/shm"},
             {"options", {"rbind", "nosuid", "nodev", "noexec"}}};
      // A writable volume (emptyDir): one directory of the guest per host directory, shared by
      // the pod's containers (not with the host: a pod VM boots from a template, without
      // virtio-fs).
      for (const auto& v : gc.volumes)
        if (src == std::string(runtime::microvm::kGuestVolumes) + "/" + v.tag) {
          std::string d = std::string(kPod) + "/volumes/" + fnv_hex(v.source);
          m["source"] = d;
          pod_dirs.push_back(d);
        }
    }
  // Namespaces: the guest's network stack is the pod's; IPC and UTS (and PID when the pod shares
  // it) are the sandbox's.
  json kept = json::array();
  if (c.contains("linux") && c["linux"].contains("namespaces"))
    for (auto ns : c["linux"]["namespaces"]) {
      std::string type = ns.value("type", "");
      if (type == "network") continue;
      if (sandbox_pid > 0 &&
          (type == "ipc" || type == "uts" || (type == "pid" && had_path(config, "pid")))) {
        ns["path"] = strprintf("/proc/%d/ns/%s", sandbox_pid, type.c_str());
        gc.warnings.erase(std::remove_if(gc.warnings.begin(), gc.warnings.end(),
                                         [&](const std::string& w) {
                                           return w.starts_with("linux.namespaces: " + type + " ");
                                         }),
                          gc.warnings.end());
      }
      kept.push_back(ns);
    }
  if (c.contains("linux")) c["linux"]["namespaces"] = kept;
  out.request = {
      {"id", id}, {"config", c}, {"files", gc.files}, {"pod", true}, {"pod_dirs", pod_dirs}};
  out.warnings = gc.warnings;
  return out;
}

}  // namespace veil::shim
