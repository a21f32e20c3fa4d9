#include "linux/cgroup_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::cgroups {
namespace {

using oj = nlohmann::ordered_json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::optional<std::string> rd(const std::string& dir, const std::string& file) {
  auto r = read_file(dir + "/" + file);
  if (!r) return std::nullopt;
  return std::move(*r);
}

uint64_t num(const std::string& dir, const std::string& file, uint64_t max_value = UINT64_MAX) {
  auto s = rd(dir, file);
  return s ? parse_uint(*s, max_value) : 0;
}

bool is_v2(const std::string& dir) {
  return path_exists(dir + "/cgroup.controllers");
}

// The container's directory for a controller: the v1 one that has v1_file, else the v2 one
// that has v2_file; nullopt when neither.
struct Where {
  std::string dir;
  bool v2 = false;
};
std::optional<Where> locate(const std::vector<std::string>& dirs, const std::string& v1_file,
                            const std::string& v2_file) {
  for (const auto& d : dirs)
    if (!is_v2(d) && path_exists(d + "/" + v1_file)) return Where{d, false};
  for (const auto& d : dirs)
    if (is_v2(d) && path_exists(d + "/" + v2_file)) return Where{d, true};
  return std::nullopt;
}

// Go's omitempty for numbers and slices.
void put_nz(oj& o, const char* key, uint64_t v) {
  if (v) o[key] = v;
}
void put_list(oj& o, const char* key, const std::vector<uint64_t>& v) {
  if (!v.empty()) o[key] = v;
}

std::vector<uint64_t> numbers(std::string_view text) {
  std::vector<uint64_t> out;
  for (const auto& f : split(trim(text), ' '))
    if (!f.empty()) out.push_back(parse_uint(f));
  return out;
}

oj cpu_stats(const std::vector<std::string>& dirs) {
  oj usage = oj::object(), throttling = oj::object();
  uint64_t total = 0, kernel = 0, user = 0, periods = 0, throttled = 0, throttled_ns = 0;
  std::vector<uint64_t> percpu, percpu_kernel, percpu_user;
  std::string psi_dir;
  if (auto w = locate(dirs, "cpuacct.usage", "cpu.stat"); w && !w->v2) {
    total = num(w->dir, "cpuacct.usage");
    percpu = numbers(rd(w->dir, "cpuacct.usage_percpu").value_or(""));
    // "cpu user system" then one line per cpu (nanoseconds).
    auto all = split(rd(w->dir, "cpuacct.usage_all").value_or(""), '\n');
    for (size_t i = 1; i < all.size(); ++i) {
      auto f = numbers(all[i]);
      if (f.size() == 3) {
        percpu_user.push_back(f[1]);
        percpu_kernel.push_back(f[2]);
      }
    }
    // cpuacct.stat counts clock ticks.
    auto st = parse_flat_keyed(rd(w->dir, "cpuacct.stat").value_or(""));
    uint64_t hz = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
    if (hz == 0) hz = 100;
    user = st["user"] * (1'000'000'000 / hz);
    kernel = st["system"] * (1'000'000'000 / hz);
  } else if (w) {
    auto st = parse_flat_keyed(rd(w->dir, "cpu.stat").value_or(""));
    total = st["usage_usec"] * 1000;
    user = st["user_usec"] * 1000;
    kernel = st["system_usec"] * 1000;
    psi_dir = w->dir;
  }
  if (auto w = locate(dirs, "cpu.cfs_period_us", "cpu.max")) {
    auto st = parse_flat_keyed(rd(w->dir, "cpu.stat").value_or(""));
    periods = st["nr_periods"];
    throttled = st["nr_throttled"];
    throttled_ns = w->v2 ? st["throttled_usec"] * 1000 : st["throttled_time"];
  }
  put_nz(usage, "total", total);
  put_list(usage, "percpu", percpu);
  put_list(usage, "percpu_kernel", percpu_kernel);
  put_list(usage, "percpu_user", percpu_user);
  usage["kernel"] = kernel;
  usage["user"] = user;
  put_nz(throttling, "periods", periods);
  put_nz(throttling, "throttledPeriods", throttled);
  put_nz(throttling, "throttledTime", throttled_ns);
  oj cpu = {{"usage", usage}, {"throttling", throttling}};
  if (!psi_dir.empty())
    if (auto p = rd(psi_dir, "cpu.pressure")) cpu["psi"] = parse_psi(*p);
  return cpu;
}

oj cpuset_stats(const std::vector<std::string>& dirs) {
  oj o = oj::object();
  auto w = locate(dirs, "cpuset.cpu_exclusive", "cpuset.cpus.effective");
  auto list = [&](const char* key, const char* file) {
    if (!w) return;
    auto v = parse_cpu_list(rd(w->dir, file).value_or(""));
    if (!v.empty()) o[key] = v;
  };
  auto flag = [&](const char* key, const char* file) {
    o[key] = w && !w->v2 ? num(w->dir, file) : 0;
  };
  list("cpus", w && w->v2 ? "cpuset.cpus.effective" : "cpuset.cpus");
  flag("cpu_exclusive", "cpuset.cpu_exclusive");
  list("mems", w && w->v2 ? "cpuset.mems.effective" : "cpuset.mems");
  flag("mem_hardwall", "cpuset.mem_hardwall");
  flag("mem_exclusive", "cpuset.mem_exclusive");
  flag("memory_migrate", "cpuset.memory_migrate");
  flag("memory_spread_page", "cpuset.memory_spread_page");
  flag("memory_spread_slab", "cpuset.memory_spread_slab");
  flag("memory_pressure", "cpuset.memory_pressure");
  flag("sched_load_balance", "cpuset.sched_load_balance");
  int64_t relax = 0;
  if (w && !w->v2)
    relax = std::atoll(rd(w->dir, "cpuset.sched_relax_domain_level").value_or("0").c_str());
  o["sched_relax_domain_level"] = relax;
  return o;
}

// runc's MemoryEntry: {limit, usage (omitempty), max (omitempty), failcnt}.
oj memory_entry(uint64_t limit, uint64_t usage, uint64_t max, uint64_t failcnt) {
  oj e = {{"limit", limit}};
  put_nz(e, "usage", usage);
  put_nz(e, "max", max);
  e["failcnt"] = failcnt;
  return e;
}

oj memory_stats(const std::vector<std::string>& dirs) {
  oj m = oj::object();
  auto w = locate(dirs, "memory.usage_in_bytes", "memory.current");
  if (!w) {
    for (const char* k : {"usage", "swap", "kernel", "kernelTCP"}) m[k] = memory_entry(0, 0, 0, 0);
    return m;
  }
  const std::string& d = w->dir;
  auto raw = parse_flat_keyed(rd(d, "memory.stat").value_or(""));
  if (!w->v2) {
    auto entry = [&](const std::string& p) {
      return memory_entry(num(d, p + "limit_in_bytes"), num(d, p + "usage_in_bytes"),
                          num(d, p + "max_usage_in_bytes"), num(d, p + "failcnt"));
    };
    put_nz(m, "cache", raw["cache"]);
    m["usage"] = entry("memory.");
    m["swap"] = entry("memory.memsw.");
    m["kernel"] = entry("memory.kmem.");
    m["kernelTCP"] = entry("memory.kmem.tcp.");
  } else {
    uint64_t usage = num(d, "memory.current"), limit = num(d, "memory.max");
    auto events = parse_flat_keyed(rd(d, "memory.events").value_or(""));
    put_nz(m, "cache", raw["file"]);
    m["usage"] = memory_entry(limit, usage, num(d, "memory.peak"), events["max"]);
    // As runc: v1 reports swap as memory+swap, so v2's swap-only numbers are added to memory's.
    uint64_t swap_limit = num(d, "memory.swap.max");
    if (swap_limit != UINT64_MAX && limit != UINT64_MAX) swap_limit += limit;
    auto swap_events = parse_flat_keyed(rd(d, "memory.swap.events").value_or(""));
    uint64_t swap_usage =
        path_exists(d + "/memory.swap.current") ? num(d, "memory.swap.current") + usage : 0;
    m["swap"] = memory_entry(path_exists(d + "/memory.swap.max") ? swap_limit : 0, swap_usage, 0,
                             swap_events["max"]);
    m["kernel"] = memory_entry(0, 0, 0, 0);
    m["kernelTCP"] = memory_entry(0, 0, 0, 0);
  }
  if (!raw.empty()) {
    oj r = oj::object();
    for (const auto& [k, v] : raw) r[k] = v;  // sorted, as Go encodes maps
    m["raw"] = std::move(r);
  }
  if (w->v2)
    if (auto p = rd(d, "memory.pressure")) m["psi"] = parse_psi(*p);
  return m;
}

oj pids_stats(const std::vector<std::string>& dirs) {
  oj p = oj::object();
  if (auto w = locate(dirs, "pids.current", "pids.current")) {
    put_nz(p, "current", num(w->dir, "pids.current"));
    put_nz(p, "limit", num(w->dir, "pids.max", 0));  // "max": no limit, reported as 0
  }
  return p;
}

oj blkio_entries(const std::vector<BlkioEntry>& v) {
  oj a = oj::array();
  for (const auto& e : v) {
    oj o = oj::object();
    put_nz(o, "major", e.major);
    put_nz(o, "minor", e.minor);
    if (!e.op.empty()) o["op"] = e.op;
    put_nz(o, "value", e.value);
    a.push_back(std::move(o));
  }
  return a;
}

oj blkio_stats(const std::vector<std::string>& dirs) {
  oj b = oj::object();
  std::vector<BlkioEntry> bytes, ios;
  auto w = locate(dirs, "blkio.throttle.io_serviced_recursive", "io.stat");
  if (w && !w->v2) {
    // BFQ's accounting when the scheduler provides it, else the throttling layer's (as runc).
    std::string pfx = "blkio.throttle.";
    auto bfq = rd(w->dir, "blkio.bfq.io_serviced_recursive");
    if (bfq && !parse_blkio_v1(*bfq).empty()) pfx = "blkio.bfq.";
    bytes = parse_blkio_v1(rd(w->dir, pfx + "io_service_bytes_recursive").value_or(""));
    ios = parse_blkio_v1(rd(w->dir, pfx + "io_serviced_recursive").value_or(""));
  } else if (w) {
    parse_io_stat(rd(w->dir, "io.stat").value_or(""), bytes, ios);
  }
  if (!bytes.empty()) b["ioServiceBytesRecursive"] = blkio_entries(bytes);
  if (!ios.empty()) b["ioServicedRecursive"] = blkio_entries(ios);
  if (w && w->v2)
    if (auto p = rd(w->dir, "io.pressure")) b["psi"] = parse_psi(*p);
  return b;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) out.emplace_back(e->d_name);
  ::closedir(d);
  return out;
}

oj hugetlb_stats(const std::vector<std::string>& dirs) {
  // Page sizes from the file names: hugetlb.<size>.usage_in_bytes (v1), hugetlb.<size>.current.
  std::map<std::string, oj> sizes;
  auto scan = [&](const std::string& dir, bool v2) {
    const std::string suffix = v2 ? ".current" : ".usage_in_bytes";
    for (const auto& name : list_dir(dir)) {
      if (!name.starts_with("hugetlb.") || !name.ends_with(suffix)) continue;
      std::string size = name.substr(8, name.size() - 8 - suffix.size());
      if (size.empty() || size.find('.') != std::string::npos) continue;  // hugetlb.2MB.rsvd.*
      std::string p = "hugetlb." + size + ".";
      oj e = oj::object();
      if (v2) {
        put_nz(e, "usage", num(dir, p + "current"));
        e["failcnt"] = parse_flat_keyed(rd(dir, p + "events").value_or(""))["max"];
      } else {
        put_nz(e, "usage", num(dir, p + "usage_in_bytes"));
        put_nz(e, "max", num(dir, p + "max_usage_in_bytes"));
        e["failcnt"] = num(dir, p + "failcnt");
      }
      sizes[size] = std::move(e);
    }
  };
  for (const auto& d : dirs)
    if (!is_v2(d)) scan(d, false);
  if (sizes.empty())
    for (const auto& d : dirs)
      if (is_v2(d)) scan(d, true);
  oj h = oj::object();
  for (auto& [k, v] : sizes) h[k] = std::move(v);
  return h;
}

}  // namespace

std::map<std::string, uint64_t> parse_flat_keyed(std::string_view text) {
  std::map<std::string, uint64_t> out;
  for (const auto& line : split(text, '\n')) {
    auto sp = line.find(' ');
    if (sp == std::string::npos || sp == 0) continue;
    out[line.substr(0, sp)] = parse_uint(std::string_view(line).substr(sp + 1));
  }
  return out;
}

std::vector<uint16_t> parse_cpu_list(std::string_view text) {
  std::vector<uint16_t> out;
  for (const auto& part : split(trim(text), ',')) {
    if (part.empty()) continue;
    auto dash = part.find('-');
    uint64_t lo = parse_uint(part.substr(0, dash));
    uint64_t hi = dash == std::string::npos ? lo : parse_uint(part.substr(dash + 1));
    for (uint64_t c = lo; c <= hi && c < 65536 && out.size() < 65536; ++c)
      out.push_back(static_cast<uint16_t>(c));
  }
  return out;
}

uint64_t parse_uint(std::string_view text, uint64_t max_value) {
  text = trim(text);
  if (text == "max") return max_value;
  std::string s(text);
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || end == s.c_str() || s[0] == '-') return 0;
  return v;
}

std::vector<BlkioEntry> parse_blkio_v1(std::string_view text) {
  std::vector<BlkioEntry> out;
  for (const auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    if (f.size() != 3) continue;  // "Total N" and blank lines
    auto colon = f[0].find(':');
    if (colon == std::string::npos) continue;
    out.push_back({parse_uint(f[0].substr(0, colon)), parse_uint(f[0].substr(colon + 1)), f[1],
                   parse_uint(f[2])});
  }
  return out;
}

void parse_io_stat(std::string_view text, std::vector<BlkioEntry>& bytes,
                   std::vector<BlkioEntry>& ios) {
  for (const auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    if (f.size() < 2) continue;
    auto colon = f[0].find(':');
    if (colon == std::string::npos) continue;
    uint64_t major = parse_uint(f[0].substr(0, colon)), minor = parse_uint(f[0].substr(colon + 1));
    for (size_t i = 1; i < f.size(); ++i) {
      auto eq = f[i].find('=');
      if (eq == std::string::npos) continue;
      std::string key = f[i].substr(0, eq);
      uint64_t v = parse_uint(f[i].substr(eq + 1));
      if (key == "rbytes") bytes.push_back({major, minor, "Read", v});
      if (key == "wbytes") bytes.push_back({major, minor, "Write", v});
      if (key == "rios") ios.push_back({major, minor, "Read", v});
      if (key == "wios") ios.push_back({major, minor, "Write", v});
    }
  }
}

oj parse_psi(std::string_view text) {
  oj psi = oj::object();
  for (const auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    if (f.empty() || (f[0] != "some" && f[0] != "full")) continue;
    oj d = {{"avg10", 0.0}, {"avg60", 0.0}, {"avg300", 0.0}, {"total", 0}};
    for (size_t i = 1; i < f.size(); ++i) {
      auto eq = f[i].find('=');
      if (eq == std::string::npos) continue;
      std::string key = f[i].substr(0, eq), val = f[i].substr(eq + 1);
      if (key == "total")
        d["total"] = parse_uint(val);
      else if (d.contains(key))
        d[key] = std::strtod(val.c_str(), nullptr);
    }
    psi[f[0]] = std::move(d);
  }
  return psi;
}

Result<nlohmann::ordered_json> collect_stats(const std::vector<std::string>& dirs) {
  bool any = false;
  for (const auto& d : dirs) any = any || path_exists(d);
  if (!any) return fail("the container's cgroup no longer exists");
  oj s = oj::object();
  s["cpu"] = cpu_stats(dirs);
  s["cpuset"] = cpuset_stats(dirs);
  s["memory"] = memory_stats(dirs);
  s["pids"] = pids_stats(dirs);
  s["blkio"] = blkio_stats(dirs);
  s["hugetlb"] = hugetlb_stats(dirs);
  s["intel_rdt"] = oj::object();
  s["network_interfaces"] = nullptr;
  return s;
}

}  // namespace veil::cgroups
