// The "linux" section of config.json.
#include <limits>

#include "oci/parse_internal.hpp"

namespace veil::oci {

using nlohmann::json;

namespace {

std::string add_ns_hint(NsType t) {
  return std::string("(add {\"type\": \"") + ns_type_name(t) + "\"} to linux.namespaces)";
}

Result<std::vector<Namespace>> parse_namespaces(const JsonAt& j) {
  size_t n = VEIL_TRY(j.array());
  std::vector<Namespace> out;
  for (size_t i = 0; i < n; ++i) {
    JsonAt e = j[i];
    VEIL_CHECK(e.object());
    std::string name = VEIL_TRY(e["type"].string());
    auto type = ns_type_from_name(name);
    if (!type) return e["type"].fail("unknown namespace " + json_quote(name));
    for (const auto& prev : out)
      if (prev.type == *type) return e["type"].fail("duplicate namespace " + json_quote(name));
    Namespace ns{*type, ""};
    // An empty path means "create a new one", as if absent.
    VEIL_CHECK(e["path"].get(ns.path));
    if (!ns.path.empty()) ns.path = VEIL_TRY(e["path"].abs_path());
    out.push_back(std::move(ns));
  }
  return out;
}

Result<std::vector<IdMapping>> parse_id_mappings(const JsonAt& j) {
  size_t n = VEIL_TRY(j.array());
  std::vector<IdMapping> out;
  for (size_t i = 0; i < n; ++i) {
    JsonAt e = j[i];
    VEIL_CHECK(e.object());
    IdMapping m;
    m.container_id = VEIL_TRY(e["containerID"].integer<uint32_t>());
    m.host_id = VEIL_TRY(e["hostID"].integer<uint32_t>());
    m.size = VEIL_TRY(e["size"].integer<uint32_t>());
    if (m.size == 0) return e["size"].fail("must be greater than 0");
    constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
    if (uint64_t{m.container_id} + m.size - 1 > kMax || uint64_t{m.host_id} + m.size - 1 > kMax)
      return e["size"].fail("range overflows 32-bit ids");
    out.push_back(m);
  }
  return out;
}

Result<std::vector<Device>> parse_devices(const JsonAt& j) {
  size_t n = VEIL_TRY(j.array());
  std::vector<Device> out;
  for (size_t i = 0; i < n; ++i) {
    JsonAt e = j[i];
    VEIL_CHECK(e.object());
    Device d;
    d.path = VEIL_TRY(e["path"].abs_path());
    auto type = e["type"].string();
    if (!type) return std::unexpected(type.error());
    if (*type != "c" && *type != "b" && *type != "u" && *type != "p")
      return e["type"].fail("unknown device type " + json_quote(*type) +
                            " (expected \"c\", \"b\", \"u\" or \"p\")");
    d.type = (*type)[0];
    for (auto [key, out_num] : {std::pair{"major", &d.major}, std::pair{"minor", &d.minor}}) {
      JsonAt num = e[key];
      // A FIFO has no device number; character and block devices need one.
      if (d.type == 'p' && !num.present()) continue;
      *out_num = VEIL_TRY(num.integer<int64_t>());
      if (*out_num < 0) return num.fail("must not be negative, got " + std::to_string(*out_num));
    }
    VEIL_CHECK(e["fileMode"].get(d.file_mode));
    VEIL_CHECK(e["uid"].get(d.uid));
    VEIL_CHECK(e["gid"].get(d.gid));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<std::string>> parse_abs_paths(const JsonAt& j) {
  size_t n = VEIL_TRY(j.array());
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(VEIL_TRY(j[i].abs_path()));
  return out;
}

Result<std::map<std::string, TimeOffset>> parse_time_offsets(const JsonAt& j) {
  VEIL_CHECK(j.object());
  std::map<std::string, TimeOffset> out;
  for (const auto& [clock, e] : j.items()) {
    if (clock != "monotonic" && clock != "boottime")
      return e.fail("unknown clock " + json_quote(clock) +
                    " (expected \"monotonic\" or \"boottime\")");
    VEIL_CHECK(e.object());
    TimeOffset t;
    VEIL_CHECK(e["secs"].get(t.secs));
    VEIL_CHECK(e["nanosecs"].get(t.nanosecs));
    if (t.nanosecs >= 1'000'000'000)
      return e["nanosecs"].fail("must be less than 1000000000, got " + std::to_string(t.nanosecs));
    out.emplace(clock, t);
  }
  return out;
}

Result<> check_propagation(const JsonAt& j, const std::string& p) {
  static const char* const kAllowed[] = {"",       "private", "rprivate",   "slave",      "rslave",
                                         "shared", "rshared", "unbindable", "runbindable"};
  for (const char* a : kAllowed)
    if (p == a) return {};
  return j.fail("unknown propagation " + json_quote(p) +
                " (expected private, rprivate, slave, rslave, shared, rshared, unbindable or "
                "runbindable)");
}

// resources and seccomp: kept as raw JSON for later stages; null when absent.
Result<json> raw_object(const JsonAt& j) {
  if (!j.present()) return json();
  VEIL_CHECK(j.object());
  return j.value();
}

// A user namespace of the container's own needs mappings; mappings need a user namespace.
Result<> check_user_ns(const Linux& l, const JsonAt& j) {
  const Namespace* user = l.find(NsType::user);
  for (auto [key, maps] :
       {std::pair{"uidMappings", &l.uid_mappings}, std::pair{"gidMappings", &l.gid_mappings}}) {
    if (user && user->path.empty() && maps->empty())
      return j[key].fail("required when creating a new user namespace");
    if (!user && !maps->empty())
      return j[key].fail("requires a user namespace " + add_ns_hint(NsType::user));
  }
  return {};
}

Result<> check_time_ns(const Linux& l, const JsonAt& j) {
  if (l.time_offsets.empty()) return {};
  const Namespace* time = l.find(NsType::time);
  if (!time)
    return j["timeOffsets"].fail("requires a new time namespace " + add_ns_hint(NsType::time));
  if (!time->path.empty())
    return j["timeOffsets"].fail("cannot be set when joining an existing time namespace");
  return {};
}

}  // namespace

Result<Linux> parse_linux(const JsonAt& j) {
  VEIL_CHECK(j.object());
  Linux l;
  if (j["namespaces"].present()) l.namespaces = VEIL_TRY(parse_namespaces(j["namespaces"]));
  if (j["uidMappings"].present()) l.uid_mappings = VEIL_TRY(parse_id_mappings(j["uidMappings"]));
  if (j["gidMappings"].present()) l.gid_mappings = VEIL_TRY(parse_id_mappings(j["gidMappings"]));
  VEIL_CHECK(check_user_ns(l, j));
  if (j["devices"].present()) l.devices = VEIL_TRY(parse_devices(j["devices"]));
  VEIL_CHECK(j["cgroupsPath"].get(l.cgroups_path));
  VEIL_CHECK(j["sysctl"].get(l.sysctl));
  VEIL_CHECK(j["rootfsPropagation"].get(l.rootfs_propagation));
  VEIL_CHECK(check_propagation(j["rootfsPropagation"], l.rootfs_propagation));
  if (j["maskedPaths"].present()) l.masked_paths = VEIL_TRY(parse_abs_paths(j["maskedPaths"]));
  if (j["readonlyPaths"].present())
    l.readonly_paths = VEIL_TRY(parse_abs_paths(j["readonlyPaths"]));
  if (j["timeOffsets"].present()) l.time_offsets = VEIL_TRY(parse_time_offsets(j["timeOffsets"]));
  VEIL_CHECK(check_time_ns(l, j));
  VEIL_CHECK(j["mountLabel"].get(l.mount_label));
  l.resources = VEIL_TRY(raw_object(j["resources"]));
  l.seccomp = VEIL_TRY(raw_object(j["seccomp"]));
  return l;
}

}  // namespace veil::oci
