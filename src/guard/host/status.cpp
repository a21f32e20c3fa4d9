#include "guard/host/status.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>

#include "base/file.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/bpf/loader.hpp"
#include "guard/control.hpp"
#include "guard/registry.hpp"
#include "linux/bpf_sys.hpp"
#include "linux/proc.hpp"

namespace veil::guard {
namespace {

std::vector<nlohmann::json> registry(const Instance& inst) {
  std::vector<nlohmann::json> out;
  DIR* d = ::opendir(inst.registry_dir().c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (!n.ends_with(".json")) continue;
    auto text = read_file(inst.registry_dir() + "/" + n);
    if (!text) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  ::closedir(d);
  return out;
}

}  // namespace

Result<nlohmann::json> prepare_output(const Instance& inst, const Spec& spec, bool do_load) {
  nlohmann::json out = {{"spec", spec.to_json()}, {"mechs", 0}};
  if (!spec.needs_bpf()) return out;
  if (std::getenv("VEIL_GUARD_NO_BPF")) {
    out["bpf_error"] = "VEIL_GUARD_NO_BPF is set";
    return out;
  }
  if (!do_load) {
    if (auto m = loaded_mechanisms(inst))
      out["mechs"] = *m;
    else
      out["bpf_error"] = "not loaded (--no-load)";
    return out;
  }
  auto r = load(inst, false);
  if (!r) {
    out["bpf_error"] = r.error().str();
    return out;
  }
  // Replaced programs of another version: the running containers' entries went with the old
  // maps; write them back from the registry.
  if (!r->reused) (void)reregister_all(inst);
  out["mechs"] = r->mechs;
  return out;
}

Result<nlohmann::json> status(const Instance& inst) {
  nlohmann::json s = {{"run_dir", inst.run_dir}, {"bpffs", inst.bpffs}};
  if (auto m = loaded_mechanisms(inst)) {
    s["loaded"] = true;
    s["mechanisms"] = mechs_string(*m);
    if (auto st = bpf_sys::obj_get(inst.pin("stats"))) {
      s["kernel"] = {{"events", stat_total(st->get(), VG_STAT_EVENTS)},
                     {"dropped", stat_total(st->get(), VG_STAT_DROPPED)},
                     {"killed", stat_total(st->get(), VG_STAT_KILLED)}};
    }
  } else {
    s["loaded"] = false;
    s["load_error"] = m.error().str();
  }
  if (auto d = control_call(inst, {{"op", "status"}}, -1, 1000)) {
    auto j = *d;
    j.erase("ok");
    s["daemon"] = j;
  } else {
    s["daemon"] = nullptr;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : registry(inst)) {
    pid_t pid = r.value("pid", 0);
    list.push_back({{"id", r.value("id", std::string())},
                    {"cgroup_id", r.value("cgroup_id", uint64_t{0})},
                    {"pid", pid},
                    {"alive", linux_proc::alive(pid, r.value("pid_start_time", uint64_t{0}))},
                    {"policy", r.contains("spec") ? r["spec"].value("name", "") : ""}});
  }
  s["containers"] = list;
  return s;
}

std::string status_text(const nlohmann::json& s) {
  std::string out;
  out += "bpf:        ";
  out += s.value("loaded", false) ? s.value("mechanisms", std::string()) + " (pinned in " +
                                        s.value("bpffs", std::string()) + ")"
                                  : "not loaded: " + s.value("load_error", std::string());
  out += "\n";
  if (s.contains("kernel"))
    out += "kernel:     " + std::to_string(s["kernel"].value("events", 0ULL)) + " events, " +
           std::to_string(s["kernel"].value("dropped", 0ULL)) + " dropped, " +
           std::to_string(s["kernel"].value("killed", 0ULL)) + " processes killed\n";
  if (s["daemon"].is_null()) {
    out += "daemon:     not running\n";
  } else {
    const auto& d = s["daemon"];
    out += "daemon:     " + std::to_string(d.value("events", 0ULL)) + " events written, " +
           std::to_string(d.value("subscribers", 0ULL)) + " subscribers (" +
           std::to_string(d.value("subscriber_dropped", 0ULL)) + " dropped), " +
           std::to_string(d.value("exec_decisions", 0ULL)) + " exec decisions (" +
           std::to_string(d.value("exec_denied", 0ULL)) + " denied), " +
           std::to_string(d.value("syscalls_answered", 0ULL)) + " syscalls answered\n";
  }
  out += "containers: " + std::to_string(s["containers"].size()) + "\n";
  for (const auto& c : s["containers"])
    out += "  " + c.value("id", std::string()) + "  policy=" + c.value("policy", std::string()) +
           "  pid=" + std::to_string(c.value("pid", 0)) +
           (c.value("alive", false) ? "" : "  (not running)") + "\n";
  return out;
}

Result<> reregister_all(const Instance& inst) {
  for (const auto& r : registry(inst)) {
    ContainerInfo c = ContainerInfo::from_json(r);
    if (!linux_proc::alive(c.pid, c.pid_start_time)) continue;
    auto spec = Spec::from_json(r.value("spec", nlohmann::json()));
    if (!spec) continue;
    VEIL_TRY(register_container(inst, *spec, c));
  }
  return {};
}

}  // namespace veil::guard
