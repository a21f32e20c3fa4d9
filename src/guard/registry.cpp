#include "guard/registry.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <cstring>

#include "base/file.hpp"
#include "guard/bpf/guard_abi.h"
#include "linux/bpf_sys.hpp"

namespace veil::guard {
namespace {

uint32_t bits(const Spec& s, bool enforce_only) {
  auto on = [&](Mode m) { return enforce_only ? m == Mode::enforce : m != Mode::off; };
  uint32_t b = 0;
  if (on(s.reverse_shell)) b |= VG_F_REVERSE_SHELL;
  if (on(s.fileless)) b |= VG_F_FILELESS;
  if (on(s.drift)) b |= VG_F_DRIFT;
  if (on(s.egress) && !s.egress_allow_all) b |= VG_F_EGRESS;
  if (on(s.wx_memory)) b |= VG_F_WX;
  if (on(s.sensitive_syscalls)) b |= VG_F_SENSITIVE;
  if (on(s.exec_rules) && !s.exec_allow.empty()) b |= VG_F_EXEC_ALLOWLIST;
  return b;
}

std::vector<std::pair<std::string, uint32_t>> name_entries(const Spec& s) {
  std::vector<std::pair<std::string, uint32_t>> v;
  if (s.reverse_shell == Mode::off) return v;
  for (const auto& n : s.interpreters) v.emplace_back(n, VG_NAME_INTERP);
  for (const auto& n : s.netcat) v.emplace_back(n, VG_NAME_NETCAT);
  for (const auto& n : s.socat) v.emplace_back(n, VG_NAME_SOCAT);
  return v;
}

vg_name_key name_key(uint64_t cgid, const std::string& name) {
  vg_name_key k;
  std::memset(&k, 0, sizeof(k));
  k.cgroup_id = cgid;
  std::strncpy(k.name, name.c_str(), sizeof(k.name) - 1);
  return k;
}

}  // namespace

nlohmann::json ContainerInfo::to_json(const Spec& spec) const {
  return {{"id", id},
          {"cgroup_id", cgroup_id},
          {"pid", pid},
          {"pid_start_time", pid_start_time},
          {"created_ns", created_ns},
          {"shm_devs", shm_devs},
          {"spec", spec.to_json()}};
}

ContainerInfo ContainerInfo::from_json(const nlohmann::json& j) {
  ContainerInfo c;
  c.id = j.value("id", std::string());
  c.cgroup_id = j.value("cgroup_id", uint64_t{0});
  c.pid = j.value("pid", 0);
  c.pid_start_time = j.value("pid_start_time", uint64_t{0});
  c.created_ns = j.value("created_ns", uint64_t{0});
  if (j.contains("shm_devs") && j["shm_devs"].is_array())
    for (const auto& d : j["shm_devs"])
      if (d.is_number_unsigned()) c.shm_devs.push_back(d.get<uint32_t>());
  return c;
}

nlohmann::json Registration::to_json() const {
  return {{"cgroup_id", cgroup_id}, {"names", names}, {"approved", approved}};
}

Registration Registration::from_json(const nlohmann::json& j) {
  Registration r;
  r.cgroup_id = j.value("cgroup_id", uint64_t{0});
  r.approved = j.value("approved", false);
  if (j.contains("names") && j["names"].is_array())
    for (const auto& n : j["names"])
      if (n.is_string()) r.names.push_back(n.get<std::string>());
  return r;
}

void encode_policy(const Spec& spec, const ContainerInfo& c, vg_policy* p) {
  std::memset(p, 0, sizeof(*p));
  p->enabled = bits(spec, false);
  p->enforce = bits(spec, true);
  p->created_ns = c.created_ns;
  for (size_t i = 0; i < c.shm_devs.size() && i < VG_MAX_SHM; ++i)
    p->shm_dev[p->n_shm++] = c.shm_devs[i];
  for (const auto& r : spec.egress_allow) {
    if (p->n_egress >= VG_MAX_EGRESS) break;
    vg_egress_rule& k = p->egress[p->n_egress++];
    k.family = r.family == 4 ? AF_INET : AF_INET6;
    k.prefix = static_cast<uint8_t>(r.prefix);
    k.proto = static_cast<uint8_t>(r.proto);
    k.port_lo = static_cast<uint16_t>(r.port_lo);
    k.port_hi = static_cast<uint16_t>(r.port_hi);
    inet_pton(k.family, r.address.c_str(), k.addr);
  }
  std::strncpy(p->container_id, c.id.c_str(), sizeof(p->container_id) - 1);
}

Result<uint32_t> loaded_mechanisms(const Instance& inst) {
  auto meta = bpf_sys::obj_get(inst.pin("meta"));
  if (!meta)
    return fail("the guard is not loaded (" + meta.error().str() +
                "): run `veil guard load` (or start `veil guard daemon`) as root first");
  uint32_t key = VG_META_ABI, abi = 0, mechs = 0;
  VEIL_TRY(bpf_sys::map_lookup(meta->get(), &key, &abi));
  if (abi != VG_ABI_VERSION)
    return fail("the guard loaded in " + inst.bpffs + " speaks ABI " + std::to_string(abi) +
                ", this veil speaks " + std::to_string(VG_ABI_VERSION) +
                ": run `veil guard load --replace`");
  key = VG_META_MECHS;
  VEIL_TRY(bpf_sys::map_lookup(meta->get(), &key, &mechs));
  return mechs;
}

Result<uint64_t> cgroup_id(const std::string& v2_dir) {
  struct stat st;
  if (::stat(v2_dir.c_str(), &st) != 0) return fail_errno("stat cgroup " + v2_dir);
  return static_cast<uint64_t>(st.st_ino);
}

Result<uint32_t> kernel_dev(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fail_errno("stat " + path);
  return (static_cast<uint32_t>(major(st.st_dev)) << 20) | static_cast<uint32_t>(minor(st.st_dev));
}

uint64_t coarse_now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

Result<> write_registry_file(const Instance& inst, const Spec& spec, const ContainerInfo& c) {
  VEIL_CHECK(mkdir_all(inst.registry_dir(), 0700));
  return write_file_atomic(inst.registry_file(c.cgroup_id), c.to_json(spec).dump(), 0600);
}

Result<Registration> register_container(const Instance& inst, const Spec& spec,
                                        const ContainerInfo& c) {
  Registration reg;
  reg.cgroup_id = c.cgroup_id;
  reg.approved = spec.exec_rules != Mode::off && !spec.exec_allow.empty();
  // The registry file first: a daemon that sees an event for this cgroup can name it.
  VEIL_CHECK(write_registry_file(inst, spec, c));
  auto undo = [&](Error e) -> Result<Registration> {
    (void)unregister_container(inst, reg);
    return std::unexpected(std::move(e).wrap("guard: register container \"" + c.id + "\""));
  };
  auto names = bpf_sys::obj_get(inst.pin("names"));
  if (!names) return undo(names.error());
  for (const auto& [name, kind] : name_entries(spec)) {
    vg_name_key k = name_key(c.cgroup_id, name);
    uint32_t v = kind;
    if (auto r = bpf_sys::map_update(names->get(), &k, &v); !r) return undo(r.error());
    reg.names.push_back(name);
  }
  auto policies = bpf_sys::obj_get(inst.pin("policies"));
  if (!policies) return undo(policies.error());
  vg_policy p;
  encode_policy(spec, c, &p);
  // Last: from this update on the kernel enforces.
  if (auto r = bpf_sys::map_update(policies->get(), &c.cgroup_id, &p); !r) return undo(r.error());
  return reg;
}

Result<> unregister_container(const Instance& inst, const Registration& r) {
  if (r.cgroup_id == 0) return {};
  Result<> res;
  if (auto policies = bpf_sys::obj_get(inst.pin("policies")))
    if (auto d = bpf_sys::map_delete(policies->get(), &r.cgroup_id); !d) res = d;
  if (auto names = bpf_sys::obj_get(inst.pin("names"))) {
    for (const auto& n : r.names) {
      vg_name_key k = name_key(r.cgroup_id, n);
      if (auto d = bpf_sys::map_delete(names->get(), &k); !d && res) res = d;
    }
  }
  if (r.approved) {
    // The inodes the daemon approved for this container (keys start with its cgroup id).
    if (auto approved = bpf_sys::obj_get(inst.pin("approved"))) {
      std::vector<vg_inode_key> mine;
      vg_inode_key k{}, next{};
      const void* cur = nullptr;
      while (auto more = bpf_sys::map_next_key(approved->get(), cur, &next)) {
        if (!*more) break;
        if (next.cgroup_id == r.cgroup_id) mine.push_back(next);
        k = next;
        cur = &k;
      }
      for (const auto& key : mine) (void)bpf_sys::map_delete(approved->get(), &key);
    }
  }
  ::unlink(inst.registry_file(r.cgroup_id).c_str());
  return res;
}

}  // namespace veil::guard
