#include "linux/cgroup_devices.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "linux/cgroup_devices_bpf.hpp"

namespace veil::cgroups {
namespace {

using nlohmann::json;

// Linux device numbers: 12-bit major, 20-bit minor.
constexpr int64_t kMaxMajor = (1 << 12) - 1;
constexpr int64_t kMaxMinor = (1 << 20) - 1;

Result<int64_t> device_number(const json& d, const char* key, int64_t max, const std::string& w) {
  if (!d.contains(key) || d[key].is_null()) return -1;
  const auto& v = d[key];
  if (!v.is_number_integer()) return fail(w + "." + key + ": expected an integer or null");
  int64_t n = v.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(
                                           v.get<uint64_t>(), static_cast<uint64_t>(max) + 1))
                                     : v.get<int64_t>();
  if (n < 0) return -1;  // runc: a negative number is a wildcard
  if (n > max)
    return fail(w + "." + key + ": " + std::to_string(n) + " is out of range (0.." +
                std::to_string(max) + ")");
  return n;
}

std::string access_text(uint8_t a) {
  std::string s;
  if (a & kDevRead) s += 'r';
  if (a & kDevWrite) s += 'w';
  if (a & kDevMknod) s += 'm';
  return s;
}

bool matches_device(const DeviceRule& r, char type, uint32_t major, uint32_t minor) {
  if (r.type == 'a') return true;
  if (r.type != type) return false;
  if (r.major >= 0 && r.major != static_cast<int64_t>(major)) return false;
  if (r.minor >= 0 && r.minor != static_cast<int64_t>(minor)) return false;
  return true;
}

const Hierarchy* unified_hierarchy(const Layout& layout, const std::vector<std::string>& dirs,
                                   std::string* dir) {
  for (size_t i = 0; i < layout.hierarchies.size() && i < dirs.size(); ++i) {
    if (layout.hierarchies[i].v2) {
      *dir = dirs[i];
      return &layout.hierarchies[i];
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<DeviceRule>> parse_device_rules(const json& arr, const std::string& where) {
  if (!arr.is_array()) return fail(where + ": expected an array");
  std::vector<DeviceRule> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const auto& d = arr[i];
    std::string w = where + "[" + std::to_string(i) + "]";
    if (!d.is_object()) return fail(w + ": expected an object");
    DeviceRule r;
    if (!d.contains("allow") || !d["allow"].is_boolean())
      return fail(w + ".allow: required, true or false");
    r.allow = d["allow"].get<bool>();
    std::string type = "a";
    if (d.contains("type") && !d["type"].is_null()) {
      if (!d["type"].is_string()) return fail(w + ".type: expected a string");
      type = d["type"].get<std::string>();
    }
    if (type != "a" && type != "c" && type != "b")
      return fail(w + ".type: must be a, c or b, got \"" + type + "\"");
    r.type = type[0];
    r.major = VEIL_TRY(device_number(d, "major", kMaxMajor, w));
    r.minor = VEIL_TRY(device_number(d, "minor", kMaxMinor, w));
    std::string access = "rwm";
    if (d.contains("access") && !d["access"].is_null()) {
      if (!d["access"].is_string()) return fail(w + ".access: expected a string");
      access = d["access"].get<std::string>();
    }
    if (access.empty()) access = "rwm";
    r.access = 0;
    for (char c : access) {
      if (c == 'r')
        r.access |= kDevRead;
      else if (c == 'w')
        r.access |= kDevWrite;
      else if (c == 'm')
        r.access |= kDevMknod;
      else
        return fail(w + ".access: only r, w and m are allowed, got \"" + access + "\"");
    }
    if (r.type == 'a') {  // "a" means every device and every access (v1 writes just "a")
      r.major = r.minor = -1;
      r.access = kDevAll;
    }
    out.push_back(r);
  }
  return out;
}

json device_rules_json(const std::vector<DeviceRule>& rules) {
  json arr = json::array();
  for (const auto& r : rules) {
    json o = {{"allow", r.allow}, {"type", std::string(1, r.type)}};
    if (r.major >= 0) o["major"] = r.major;
    if (r.minor >= 0) o["minor"] = r.minor;
    o["access"] = access_text(r.access);
    arr.push_back(std::move(o));
  }
  return arr;
}

std::vector<DeviceRule> standard_device_rules() {
  auto c = [](int64_t major, int64_t minor, uint8_t access) {
    return DeviceRule{true, 'c', major, minor, access};
  };
  return {
      c(-1, -1, kDevMknod), DeviceRule{true, 'b', -1, -1, kDevMknod},
      c(1, 3, kDevAll),     c(1, 5, kDevAll),
      c(1, 7, kDevAll),     c(1, 8, kDevAll),
      c(1, 9, kDevAll),     c(5, 0, kDevAll),
      c(5, 1, kDevAll),     c(5, 2, kDevAll),
      c(136, -1, kDevAll),
  };
}

std::vector<DeviceRule> compact_device_rules(std::vector<DeviceRule> rules) {
  size_t start = 0;
  for (size_t i = 0; i < rules.size(); ++i)
    if (rules[i].type == 'a') start = i;
  rules.erase(rules.begin(), rules.begin() + static_cast<std::ptrdiff_t>(start));
  // A rule that appears again later can never decide anything: drop the earlier copy.
  std::vector<DeviceRule> out;
  for (size_t i = 0; i < rules.size(); ++i) {
    bool later = std::find(rules.begin() + static_cast<std::ptrdiff_t>(i) + 1, rules.end(),
                           rules[i]) != rules.end();
    if (!later) out.push_back(rules[i]);
  }
  return out;
}

bool device_rules_allow(const std::vector<DeviceRule>& rules, char type, uint32_t major,
                        uint32_t minor, uint8_t access) {
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (!matches_device(*it, type, major, minor)) continue;
    if (it->type == 'a') return it->allow;
    if (it->allow && (access & ~it->access) == 0) return true;
    if (!it->allow && (access & it->access) != 0) return false;
  }
  return true;
}

std::string v1_rule_text(const DeviceRule& r) {
  if (r.type == 'a') return "a";
  auto num = [](int64_t n) { return n < 0 ? std::string("*") : std::to_string(n); };
  return std::string(1, r.type) + " " + num(r.major) + ":" + num(r.minor) + " " +
         access_text(r.access);
}

const char* device_backend_name(DeviceBackend b) {
  return b == DeviceBackend::bpf ? "bpf" : "v1";
}

Result<DeviceBackend> choose_device_backend(const Layout& layout) {
  bool have_v1 = false, have_v2 = false;
  for (const auto& h : layout.hierarchies) {
    if (h.v2) have_v2 = true;
    for (const auto& c : split(h.name, ','))
      if (!h.v2 && c == "devices") have_v1 = true;
  }
  const char* forced = std::getenv("VEIL_CGROUP_DEVICES");
  if (forced && *forced) {
    if (std::strcmp(forced, "v1") == 0) {
      if (!have_v1)
        return fail("VEIL_CGROUP_DEVICES=v1: this host has no v1 devices controller mounted");
      return DeviceBackend::v1;
    }
    if (std::strcmp(forced, "bpf") == 0) {
      if (!have_v2) return fail("VEIL_CGROUP_DEVICES=bpf: this host has no cgroup v2 hierarchy");
      return DeviceBackend::bpf;
    }
    return fail(std::string("VEIL_CGROUP_DEVICES must be v1 or bpf, got \"") + forced + "\"");
  }
  if (have_v1) return DeviceBackend::v1;
  if (have_v2) return DeviceBackend::bpf;
  return fail("no way to enforce device rules: neither a v1 devices controller nor cgroup v2");
}

json DeviceState::to_json() const {
  json j = {{"rules", device_rules_json(rules)}, {"extras", device_rules_json(extras)}};
  if (have_backend) j["backend"] = device_backend_name(backend);
  return j;
}

Result<DeviceState> DeviceState::from_json(const json& j) {
  DeviceState s;
  if (j.is_null()) return s;
  if (!j.is_object()) return fail("devices: expected an object");
  if (j.contains("backend")) {
    std::string b = j["backend"].is_string() ? j["backend"].get<std::string>() : "";
    if (b != "v1" && b != "bpf") return fail("devices.backend: unknown \"" + b + "\"");
    s.have_backend = true;
    s.backend = b == "bpf" ? DeviceBackend::bpf : DeviceBackend::v1;
  }
  if (j.contains("rules")) s.rules = VEIL_TRY(parse_device_rules(j["rules"], "devices.rules"));
  if (j.contains("extras")) s.extras = VEIL_TRY(parse_device_rules(j["extras"], "devices.extras"));
  return s;
}

Result<> apply_device_rules(const Layout& layout, const std::vector<std::string>& dirs,
                            const std::vector<DeviceRule>& rules, DeviceState& state,
                            const std::string& where) {
  if (!state.have_backend) {
    state.backend = VEIL_TRY(choose_device_backend(layout));
    state.have_backend = true;
  }
  // What the container ends up with: its rules, then what it may always use.
  std::vector<DeviceRule> added = rules;
  for (const auto& r : standard_device_rules()) added.push_back(r);
  for (const auto& r : state.extras) added.push_back(r);
  std::vector<DeviceRule> all = state.rules;
  all.insert(all.end(), added.begin(), added.end());
  all = compact_device_rules(std::move(all));

  if (state.backend == DeviceBackend::bpf) {
    std::string dir;
    if (!unified_hierarchy(layout, dirs, &dir))
      return fail(where + ": device rules need a cgroup v2 hierarchy for the BPF device program");
    if (auto r = bpf_devices::install(dir, all); !r) return std::unexpected(r.error().wrap(where));
    state.rules = std::move(all);
    return {};
  }
  std::string dir;
  for (size_t i = 0; i < layout.hierarchies.size() && i < dirs.size(); ++i) {
    const auto& h = layout.hierarchies[i];
    if (h.v2) continue;
    for (const auto& c : split(h.name, ','))
      if (c == "devices") dir = dirs[i];
  }
  if (dir.empty()) return fail(where + ": this host has no v1 devices controller");
  for (size_t i = 0; i < added.size(); ++i) {
    const auto& r = added[i];
    std::string w = i < rules.size() ? where + "[" + std::to_string(i) + "]" : where;
    std::string file = dir + (r.allow ? "/devices.allow" : "/devices.deny");
    if (auto res = write_file(file, v1_rule_text(r)); !res)
      return std::unexpected(res.error().wrap(w + " (" + v1_rule_text(r) + ")"));
  }
  state.rules = std::move(all);
  return {};
}

}  // namespace veil::cgroups
