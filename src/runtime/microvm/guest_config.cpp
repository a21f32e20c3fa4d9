#include "runtime/microvm/guest_config.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;

namespace {

constexpr const char* kGuestRootfs = "/run/veil-rootfs";  // agent/processes.hpp
constexpr const char* kGuestBinds = "/run/veil-binds";

bool is_bind(const json& m) {
  if (m.value("type", "") == "bind") return true;
  if (m.contains("options") && m["options"].is_array())
    for (const auto& o : m["options"])
      if (o.is_string() && (o == "bind" || o == "rbind")) return true;
  return false;
}

bool is_read_only(const json& m) {
  if (m.contains("options") && m["options"].is_array())
    for (const auto& o : m["options"])
      if (o.is_string() && o == "ro") return true;
  return false;
}

// Adds src (a file, or a directory tree: directories, regular files, symbolic links) to files as
// guest_path, counting the bytes against kMaxBindBytes.
Result<> carry(const std::string& src, const std::string& guest_path, json& files,
               size_t& carried) {
  struct stat st {};
  if (::lstat(src.c_str(), &st) != 0) return fail_errno("stat " + src);
  int mode = static_cast<int>(st.st_mode & 07777);
  if (S_ISLNK(st.st_mode)) {
    files.push_back({{"path", guest_path}, {"link", read_link(src)}});
    return {};
  }
  if (S_ISREG(st.st_mode)) {
    auto data = VEIL_TRY(read_file(src));
    carried += data.size();
    if (carried > kMaxBindBytes)
      return fail("bind-mounted files exceed " + std::to_string(kMaxBindBytes) + " bytes in total");
    files.push_back({{"path", guest_path}, {"hex", to_hex(data)}, {"mode", mode}});
    return {};
  }
  if (!S_ISDIR(st.st_mode)) return {};  // sockets, devices, fifos: not carried
  files.push_back({{"path", guest_path}, {"dir", true}, {"mode", mode}});
  DIR* d = ::opendir(src.c_str());
  if (!d) return fail_errno("open " + src);
  std::vector<std::string> names;
  while (auto* e = ::readdir(d))
    if (std::string n = e->d_name; n != "." && n != "..") names.push_back(n);
  ::closedir(d);
  if (files.size() + names.size() > 10'000) return fail("too many files to copy from " + src);
  for (const auto& n : names)
    VEIL_CHECK(carry(src + "/" + n, guest_path + "/" + n, files, carried));
  return {};
}

}  // namespace

std::string network_namespace_path(const json& config) {
  if (!config.contains("linux") || !config["linux"].contains("namespaces") ||
      !config["linux"]["namespaces"].is_array())
    return "";
  for (const auto& ns : config["linux"]["namespaces"])
    if (ns.is_object() && ns.value("type", "") == "network" && ns.contains("path") &&
        ns["path"].is_string())
      return ns["path"].get<std::string>();
  return "";
}

Result<GuestConfig> guest_config(const json& config) {
  GuestConfig gc;
  json c = config;
  // org.veil.secrets: fetched on the host at create (the KBS sees the host's evidence) and handed
  // to the guest's veil, which mounts them as on a host (microvm/create.cpp).
  if (c.contains("annotations") && c["annotations"].is_object())
    c["annotations"].erase("org.veil.secrets");
  c["root"]["path"] = kGuestRootfs;
  // The guest's veil runs the container on the guest kernel.
  // The guard policy is compiled on the host and enforced by the agent (agent/guard.hpp), not by
  // the guest's veil (which would look for veil-guard in the guest).
  if (c.contains("annotations") && c["annotations"].is_object()) {
    c["annotations"].erase(kHandlerAnnotation);
    c["annotations"].erase("org.veil.guard.policy");
  }
  if (c.contains("linux") && c["linux"].contains("namespaces") &&
      c["linux"]["namespaces"].is_array()) {
    json kept = json::array();
    for (auto& ns : c["linux"]["namespaces"]) {
      if (ns.is_object() && ns.contains("path")) {
        // The pod's network namespace (CNI) reaches the guest as the VM's NIC: the container uses
        // the guest's own network stack, which took that namespace's address.
        if (ns.value("type", "") == "network") continue;
        gc.warnings.push_back("linux.namespaces: " + ns.value("type", std::string("?")) +
                              " namespace path " + ns["path"].dump() +
                              " is a host namespace: the guest makes a new one");
        ns.erase("path");
      }
      kept.push_back(ns);
    }
    c["linux"]["namespaces"] = kept;
  }
  c.erase("hooks");  // host paths; poststart/poststop still run on the host (runtime state)
  size_t carried = 0;
  if (c.contains("mounts") && c["mounts"].is_array()) {
    int n = 0;
    for (auto& m : c["mounts"]) {
      if (!m.is_object() || !is_bind(m)) continue;
      std::string src = m.value("source", "");
      // A host tmpfs for /dev/shm (Podman's, Docker's) becomes the guest's own: shared memory
      // cannot cross the VM boundary anyway.
      if (m.value("destination", "") == "/dev/shm") {
        m = {{"destination", "/dev/shm"},
             {"type", "tmpfs"},
             {"source", "shm"},
             {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}};
        continue;
      }
      std::string where = "mounts[" + m.value("destination", std::string("?")) + "]";
      struct stat st {};
      if (::stat(src.c_str(), &st) != 0)
        return fail(where + ": bind source " + src + " does not exist");
      std::string guest_path = strprintf("%s/%d", kGuestBinds, n++);
      if (S_ISDIR(st.st_mode) && !is_read_only(m)) {
        // A volume: shared both ways (writes reach the host), not copied.
        if (gc.volumes.size() >= kMaxVolumes)
          return fail(where + ": more than " + std::to_string(kMaxVolumes) +
                      " writable directory volumes in one microVM");
        Volume v{src, "vol" + std::to_string(gc.volumes.size())};
        m["source"] = std::string(kGuestVolumes) + "/" + v.tag;
        gc.volumes.push_back(std::move(v));
        continue;
      }
      if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return fail(where + ": bind mount of " + src +
                    " is not supported in a microVM (only files and read-only directories)");
      if (auto r = carry(src, guest_path, gc.files, carried); !r)
        return std::unexpected(r.error().wrap(where));
      m["source"] = guest_path;
    }
  }
  gc.config = std::move(c);
  return gc;
}

vm::Shape shape_for(const json& config, const std::string& accel) {
  vm::Shape s;
  s.accel = accel;
  s.mem_mib = kDefaultGuestMiB;
  const json* res = nullptr;
  if (config.contains("linux") && config["linux"].contains("resources"))
    res = &config["linux"]["resources"];
  if (res && res->is_object()) {
    if (res->contains("memory") && (*res)["memory"].is_object()) {
      auto lim = (*res)["memory"].value("limit", int64_t{0});
      if (lim > 0) {
        int64_t mib = (lim + (1 << 20) - 1) >> 20;
        int64_t want = mib + kGuestOverheadMiB;
        want = (want + 31) / 32 * 32;
        s.mem_mib = static_cast<int>(std::clamp<int64_t>(want, kDefaultGuestMiB, 64 * 1024));
      }
    }
    if (res->contains("cpu") && (*res)["cpu"].is_object()) {
      auto quota = (*res)["cpu"].value("quota", int64_t{0});
      auto period = (*res)["cpu"].value("period", int64_t{100000});
      if (quota > 0 && period > 0) {
        long ncpu = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
        s.vcpus = static_cast<int>(std::clamp<int64_t>((quota + period - 1) / period, 1, ncpu));
      }
    }
  }
  return s;
}

json host_resources(const json& config, const vm::Shape& shape) {
  json r = json::object();
  if (config.contains("linux") && config["linux"].contains("resources") &&
      config["linux"]["resources"].is_object()) {
    const auto& in = config["linux"]["resources"];
    if (in.contains("cpu")) r["cpu"] = in["cpu"];
    if (in.contains("blockIO")) r["blockIO"] = in["blockIO"];
  }
  // Memory: the guest's RAM plus the VMM's own; pids: enforced in the guest (QEMU's threads are
  // not the workload's processes).
  r["memory"] = {{"limit", int64_t{shape.mem_mib + kVmmOverheadMiB} << 20}};
  // The VMM needs /dev/kvm and /dev/net/tun beyond the standard devices.
  r["devices"] = json::array(
      {{{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 232}, {"access", "rwm"}},
       {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 200}, {"access", "rwm"}}});
  return r;
}

}  // namespace veil::runtime::microvm
