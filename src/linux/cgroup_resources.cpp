#include "linux/cgroup_resources.hpp"

#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::cgroups {
namespace {

using nlohmann::json;

// Where one controller lives for this container.
struct Target {
  std::string dir;  // empty: controller not available
  bool v2 = false;
};

bool hierarchy_has(const Hierarchy& h, const std::string& controller) {
  for (const auto& c : split(h.name, ','))
    if (c == controller) return true;
  return false;
}

Result<> enable_v2(const Layout& layout, const std::string& dir, const std::string& controller) {
  const Hierarchy* unified = nullptr;
  for (const auto& h : layout.hierarchies)
    if (h.v2) unified = &h;
  if (!unified) return {};
  // Enable the controller in every ancestor's subtree_control, top-down.
  std::string rel = dir.substr(unified->mountpoint.size());
  std::string cur = unified->mountpoint;
  for (const auto& part : split(rel, '/')) {
    if (part.empty()) continue;
    auto sc = read_file(cur + "/cgroup.subtree_control");
    if (sc && (" " + *sc + " ").find(" " + controller + " ") == std::string::npos &&
        (" " + *sc).find(" " + controller + "\n") == std::string::npos) {
      if (auto r = write_file(cur + "/cgroup.subtree_control", "+" + controller); !r)
        return std::unexpected(
            r.error().wrap("enable the " + controller + " controller in " + cur));
    }
    cur += "/" + part;
  }
  return {};
}

Result<Target> find(const Layout& layout, const std::vector<std::string>& dirs,
                    const std::string& controller, const std::string& where) {
  for (size_t i = 0; i < layout.hierarchies.size() && i < dirs.size(); ++i) {
    const auto& h = layout.hierarchies[i];
    if (!h.v2 && hierarchy_has(h, controller)) return Target{dirs[i], false};
  }
  for (size_t i = 0; i < layout.hierarchies.size() && i < dirs.size(); ++i) {
    const auto& h = layout.hierarchies[i];
    if (!h.v2) continue;
    auto ctrls = read_file(h.mountpoint + "/cgroup.controllers");
    if (!ctrls) continue;
    for (const auto& c : split(std::string(*ctrls), ' ')) {
      std::string name = c;
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      if (name == controller) {
        VEIL_CHECK(enable_v2(layout, dirs[i], controller));
        return Target{dirs[i], true};
      }
    }
  }
  return fail(where + ": the " + controller + " cgroup controller is not available on this host");
}

Result<> put(const Target& t, const std::string& file, const std::string& value,
             const std::string& where) {
  if (auto r = write_file(t.dir + "/" + file, value); !r) {
    if (r.error().err == ENOENT)
      return fail(where + ": this kernel has no " + file + " (" +
                  (t.v2 ? "cgroup v2" : "cgroup v1") + ")");
    return std::unexpected(r.error().wrap(where + " (" + file + "=" + value + ")"));
  }
  return {};
}

Result<int64_t> num(const json& j, const std::string& where) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_unsigned()) return static_cast<int64_t>(j.get<uint64_t>());
  return fail(where + ": expected an integer, got " + std::string(j.type_name()));
}

std::string str_num(int64_t v) {
  return std::to_string(v);
}

Result<> memory(const Layout& l, const std::vector<std::string>& dirs, const json& m,
                const std::string& where) {
  auto t = VEIL_TRY(find(l, dirs, "memory", where));
  std::optional<int64_t> limit, swap, reservation;
  if (m.contains("limit") && !m["limit"].is_null())
    limit = VEIL_TRY(num(m["limit"], where + ".limit"));
  if (m.contains("swap") && !m["swap"].is_null()) swap = VEIL_TRY(num(m["swap"], where + ".swap"));
  if (m.contains("reservation") && !m["reservation"].is_null())
    reservation = VEIL_TRY(num(m["reservation"], where + ".reservation"));
  if (limit && swap && *swap > 0 && *limit > 0 && *swap < *limit)
    return fail(where + ".swap: must be at least memory.limit (it is memory+swap), got " +
                str_num(*swap) + " < " + str_num(*limit));
  if (t.v2) {
    if (limit)
      VEIL_CHECK(put(t, "memory.max", *limit < 0 ? "max" : str_num(*limit), where + ".limit"));
    if (reservation)
      VEIL_CHECK(put(t, "memory.low", *reservation < 0 ? "max" : str_num(*reservation),
                     where + ".reservation"));
    if (swap) {
      // OCI swap is memory+swap; v2 memory.swap.max is swap alone.
      std::string v = *swap < 0 ? "max" : str_num(limit ? *swap - *limit : *swap);
      VEIL_CHECK(put(t, "memory.swap.max", v, where + ".swap"));
    }
    if (m.value("disableOOMKiller", false))
      return fail(where + ".disableOOMKiller: not supported on cgroup v2");
    return {};
  }
  // v1: memsw must always be >= limit, so order the two writes accordingly.
  std::string lim = limit ? (*limit < 0 ? "-1" : str_num(*limit)) : "";
  std::string sw = swap ? (*swap < 0 ? "-1" : str_num(*swap)) : "";
  // Write memsw first when it grows past the current limit, else the limit first.
  int64_t current = -1;
  if (auto cur = read_file(t.dir + "/memory.limit_in_bytes")) current = std::atoll(cur->c_str());
  bool swap_first = swap && (*swap < 0 || *swap >= current);
  auto put_swap = [&]() -> Result<> {
    if (!swap) return {};
    return put(t, "memory.memsw.limit_in_bytes", sw, where + ".swap");
  };
  if (swap_first) VEIL_CHECK(put_swap());
  if (limit) VEIL_CHECK(put(t, "memory.limit_in_bytes", lim, where + ".limit"));
  if (!swap_first) VEIL_CHECK(put_swap());
  if (reservation)
    VEIL_CHECK(put(t, "memory.soft_limit_in_bytes", str_num(*reservation), where + ".reservation"));
  if (m.contains("swappiness") && !m["swappiness"].is_null())
    VEIL_CHECK(put(t, "memory.swappiness",
                   str_num(VEIL_TRY(num(m["swappiness"], where + ".swappiness"))),
                   where + ".swappiness"));
  if (m.value("disableOOMKiller", false))
    VEIL_CHECK(put(t, "memory.oom_control", "1", where + ".disableOOMKiller"));
  return {};
}

Result<> cpu(const Layout& l, const std::vector<std::string>& dirs, const json& c,
             const std::string& where) {
  auto has = [&](const char* k) { return c.contains(k) && !c[k].is_null(); };
  if (has("shares") || has("quota") || has("period") || has("realtimeRuntime") ||
      has("realtimePeriod") || has("idle")) {
    auto t = VEIL_TRY(find(l, dirs, "cpu", where));
    if (t.v2) {
      if (has("shares")) {
        auto s = VEIL_TRY(num(c["shares"], where + ".shares"));
        VEIL_CHECK(put(t, "cpu.weight", str_num(static_cast<int64_t>(shares_to_weight(s))),
                       where + ".shares"));
      }
      if (has("quota") || has("period")) {
        int64_t quota = has("quota") ? VEIL_TRY(num(c["quota"], where + ".quota")) : -1;
        int64_t period = has("period") ? VEIL_TRY(num(c["period"], where + ".period")) : 100000;
        VEIL_CHECK(put(t, "cpu.max",
                       (quota <= 0 ? std::string("max") : str_num(quota)) + " " + str_num(period),
                       where + ".quota"));
      }
      if (has("realtimeRuntime") || has("realtimePeriod"))
        return fail(where + ".realtimeRuntime: realtime scheduling is not supported on cgroup v2");
      if (has("idle"))
        VEIL_CHECK(put(t, "cpu.idle", str_num(VEIL_TRY(num(c["idle"], where + ".idle"))),
                       where + ".idle"));
    } else {
      if (has("shares"))
        VEIL_CHECK(put(t, "cpu.shares", str_num(VEIL_TRY(num(c["shares"], where + ".shares"))),
                       where + ".shares"));
      // Against a parent's limit only one order of the two writes may be valid (the quota/period
      // ratio must stay within the parent's at each step): period first, and when the kernel
      // refuses it, quota first (as runc).
      std::optional<std::string> period, quota;
      if (has("period")) period = str_num(VEIL_TRY(num(c["period"], where + ".period")));
      if (has("quota")) {
        int64_t q = VEIL_TRY(num(c["quota"], where + ".quota"));
        quota = str_num(q <= 0 ? -1 : q);
      }
      auto put_period = [&] { return put(t, "cpu.cfs_period_us", *period, where + ".period"); };
      auto put_quota = [&] { return put(t, "cpu.cfs_quota_us", *quota, where + ".quota"); };
      if (period) {
        auto r = put_period();
        if (!r && quota && r.error().err == EINVAL) {
          VEIL_CHECK(put_quota());
          VEIL_CHECK(put_period());
          quota.reset();
        } else if (!r) {
          return r;
        }
      }
      if (quota) VEIL_CHECK(put_quota());
      if (has("realtimePeriod"))
        VEIL_CHECK(put(t, "cpu.rt_period_us",
                       str_num(VEIL_TRY(num(c["realtimePeriod"], where + ".realtimePeriod"))),
                       where + ".realtimePeriod"));
      if (has("realtimeRuntime"))
        VEIL_CHECK(put(t, "cpu.rt_runtime_us",
                       str_num(VEIL_TRY(num(c["realtimeRuntime"], where + ".realtimeRuntime"))),
                       where + ".realtimeRuntime"));
      if (has("idle")) return fail(where + ".idle: not supported on cgroup v1");
    }
  }
  if (has("cpus") || has("mems")) {
    auto t = VEIL_TRY(find(l, dirs, "cpuset", where));
    std::string pfx = t.v2 ? "cpuset." : "cpuset.";
    if (has("cpus"))
      VEIL_CHECK(put(t, pfx + "cpus", c["cpus"].get<std::string>(), where + ".cpus"));
    if (has("mems"))
      VEIL_CHECK(put(t, pfx + "mems", c["mems"].get<std::string>(), where + ".mems"));
  }
  return {};
}

Result<> pids(const Layout& l, const std::vector<std::string>& dirs, const json& p,
              const std::string& where) {
  if (!p.contains("limit") || p["limit"].is_null()) return {};
  auto t = VEIL_TRY(find(l, dirs, "pids", where));
  int64_t lim = VEIL_TRY(num(p["limit"], where + ".limit"));
  return put(t, "pids.max", lim <= 0 ? "max" : str_num(lim), where + ".limit");
}

std::string devnum(const json& d) {
  return str_num(d.value("major", 0)) + ":" + str_num(d.value("minor", 0));
}

Result<> blockio(const Layout& l, const std::vector<std::string>& dirs, const json& b,
                 const std::string& where) {
  // v1 "blkio" or v2 "io".
  auto t1 = find(l, dirs, "blkio", where);
  Target t;
  if (t1) {
    t = *t1;
  } else {
    auto t2 = find(l, dirs, "io", where);
    if (!t2) return std::unexpected(t2.error());
    t = *t2;
  }
  if (b.contains("weight") && !b["weight"].is_null()) {
    int64_t w = VEIL_TRY(num(b["weight"], where + ".weight"));
    if (t.v2)
      VEIL_CHECK(put(t, "io.weight",
                     "default " + str_num(static_cast<int64_t>(blkio_to_io_weight(w))),
                     where + ".weight"));
    else
      VEIL_CHECK(put(t, "blkio.weight", str_num(w), where + ".weight"));
  }
  if (b.contains("leafWeight") && !b["leafWeight"].is_null() && !t.v2)
    VEIL_CHECK(put(t, "blkio.leaf_weight",
                   str_num(VEIL_TRY(num(b["leafWeight"], where + ".leafWeight"))),
                   where + ".leafWeight"));
  if (b.contains("weightDevice") && b["weightDevice"].is_array()) {
    for (size_t i = 0; i < b["weightDevice"].size(); ++i) {
      const auto& d = b["weightDevice"][i];
      std::string w = where + ".weightDevice[" + std::to_string(i) + "]";
      if (!d.contains("weight")) continue;
      int64_t v = VEIL_TRY(num(d["weight"], w + ".weight"));
      if (t.v2)
        VEIL_CHECK(put(t, "io.weight",
                       devnum(d) + " " + str_num(static_cast<int64_t>(blkio_to_io_weight(v))), w));
      else
        VEIL_CHECK(put(t, "blkio.weight_device", devnum(d) + " " + str_num(v), w));
    }
  }
  struct Throttle {
    const char* key;
    const char* v1file;
    const char* v2key;
  };
  const Throttle throttles[] = {
      {"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"},
      {"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"},
      {"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"},
      {"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"},
  };
  for (const auto& th : throttles) {
    if (!b.contains(th.key) || !b[th.key].is_array()) continue;
    for (size_t i = 0; i < b[th.key].size(); ++i) {
      const auto& d = b[th.key][i];
      std::string w = where + "." + th.key + "[" + std::to_string(i) + "]";
      int64_t rate = VEIL_TRY(num(d.value("rate", json(0)), w + ".rate"));
      if (t.v2)
        VEIL_CHECK(put(t, "io.max",
                       devnum(d) + " " + th.v2key + "=" + (rate == 0 ? "max" : str_num(rate)), w));
      else
        VEIL_CHECK(put(t, th.v1file, devnum(d) + " " + str_num(rate), w));
    }
  }
  return {};
}

Result<> hugetlb(const Layout& l, const std::vector<std::string>& dirs, const json& arr,
                 const std::string& where) {
  if (!arr.is_array()) return fail(where + ": expected an array");
  if (arr.empty()) return {};
  auto t = VEIL_TRY(find(l, dirs, "hugetlb", where));
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string w = where + "[" + std::to_string(i) + "]";
    const auto& e = arr[i];
    if (!e.contains("pageSize") || !e["pageSize"].is_string())
      return fail(w + ".pageSize: required (e.g. \"2MB\")");
    std::string size = e["pageSize"].get<std::string>();
    if (size.find('/') != std::string::npos) return fail(w + ".pageSize: invalid \"" + size + "\"");
    int64_t lim = VEIL_TRY(num(e.value("limit", json(0)), w + ".limit"));
    VEIL_CHECK(put(t, "hugetlb." + size + (t.v2 ? ".max" : ".limit_in_bytes"), str_num(lim), w));
  }
  return {};
}

Result<> devices(const Layout& l, const std::vector<std::string>& dirs, const json& arr,
                 const std::string& where, DeviceState* state) {
  auto rules = VEIL_TRY(parse_device_rules(arr, where));
  if (rules.empty()) return {};
  DeviceState scratch;
  return apply_device_rules(l, dirs, rules, state ? *state : scratch, where);
}

Result<> unified(const Layout& l, const std::vector<std::string>& dirs, const json& u,
                 const std::string& where) {
  if (!u.is_object()) return fail(where + ": expected an object");
  std::string dir;
  for (size_t i = 0; i < l.hierarchies.size() && i < dirs.size(); ++i)
    if (l.hierarchies[i].v2) dir = dirs[i];
  if (dir.empty()) return fail(where + ": this host has no cgroup v2 hierarchy");
  for (const auto& [key, value] : u.items()) {
    std::string w = where + "[\"" + key + "\"]";
    if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
      return fail(w + ": invalid cgroup file name");
    if (!value.is_string()) return fail(w + ": expected a string");
    auto dot = key.find('.');
    if (dot != std::string::npos && key.compare(0, dot, "cgroup") != 0)
      VEIL_CHECK(enable_v2(l, dir, key.substr(0, dot)));
    VEIL_CHECK(put(Target{dir, true}, key, value.get<std::string>(), w));
  }
  return {};
}

Result<> network(const Layout& l, const std::vector<std::string>& dirs, const json& n,
                 const std::string& where) {
  if (n.contains("classID") && !n["classID"].is_null()) {
    auto t = VEIL_TRY(find(l, dirs, "net_cls", where));
    VEIL_CHECK(put(t, "net_cls.classid", str_num(VEIL_TRY(num(n["classID"], where + ".classID"))),
                   where + ".classID"));
  }
  if (n.contains("priorities") && n["priorities"].is_array() && !n["priorities"].empty()) {
    auto t = VEIL_TRY(find(l, dirs, "net_prio", where));
    for (const auto& p : n["priorities"])
      VEIL_CHECK(put(t, "net_prio.ifpriomap",
                     p.value("name", "") + " " + str_num(p.value("priority", 0)),
                     where + ".priorities"));
  }
  return {};
}

}  // namespace

Result<> apply_resources(const Layout& layout, const std::vector<std::string>& dirs,
                         const nlohmann::json& r, const std::string& where,
                         DeviceState* device_state) {
  if (r.is_null()) return {};
  if (!r.is_object()) return fail(where + ": expected an object");
  for (const auto& [key, value] : r.items()) {
    if (value.is_null()) continue;
    std::string w = where + "." + key;
    if (key == "memory")
      VEIL_CHECK(memory(layout, dirs, value, w));
    else if (key == "cpu")
      VEIL_CHECK(cpu(layout, dirs, value, w));
    else if (key == "pids")
      VEIL_CHECK(pids(layout, dirs, value, w));
    else if (key == "blockIO")
      VEIL_CHECK(blockio(layout, dirs, value, w));
    else if (key == "hugepageLimits")
      VEIL_CHECK(hugetlb(layout, dirs, value, w));
    else if (key == "devices")
      VEIL_CHECK(devices(layout, dirs, value, w, device_state));
    else if (key == "unified")
      VEIL_CHECK(unified(layout, dirs, value, w));
    else if (key == "network")
      VEIL_CHECK(network(layout, dirs, value, w));
    else if (key == "rdma" && !value.empty())
      return fail(w + ": rdma limits are not supported by veil");
  }
  return {};
}

uint64_t shares_to_weight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_to_io_weight(uint64_t w) {
  if (w == 0) return 0;
  return 1 + (w - 10) * 9999 / 990;
}

}  // namespace veil::cgroups
