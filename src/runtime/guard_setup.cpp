#include "runtime/guard_setup.hpp"

#include <unistd.h>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/subprocess.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/control.hpp"
#include "guard/landlock_plan.hpp"
#include "guard/registry.hpp"
#include "linux/cgroups.hpp"
#include "linux/proc.hpp"

namespace veil::runtime {
namespace {

using guard::Mode;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const std::string prefix = "veil-guard: ";
  if (s.starts_with(prefix)) s.erase(0, prefix.size());
  return s;
}

// Egress without BPF: Landlock filters TCP connect by port only, so every allow entry must be
// "any address".
Result<std::vector<uint16_t>> landlock_ports(const guard::Spec& s) {
  std::vector<uint16_t> ports;
  for (const auto& r : s.egress_allow) {
    if (r.prefix != 0)
      return fail("rules.egress: allowing " + r.address + "/" + std::to_string(r.prefix) +
                  " needs BPF (Landlock filters TCP ports only, not addresses)");
    if (r.proto == 17)
      return fail("rules.egress: UDP rules need BPF (Landlock filters TCP connect only)");
    if (r.port_hi - r.port_lo > 1024)
      return fail("rules.egress: port range " + std::to_string(r.port_lo) + "-" +
                  std::to_string(r.port_hi) + " is too wide for Landlock (one rule per port)");
    for (int p = r.port_lo; p <= r.port_hi; ++p) ports.push_back(static_cast<uint16_t>(p));
  }
  return ports;
}

Result<> build_filter(GuardPlan& p, bool oci_notify) {
  guard::Spec s = p.spec;
  if (p.mechs & VG_MECHS_LSM_WX) s.wx_memory = Mode::off;  // BPF LSM does W^X with events
  guard::SeccompPlan sp{p.daemon && !oci_notify, guard::mdwe_available()};
  p.filter = VEIL_TRY(guard::GuardFilter::build(s, sp));
  return {};
}

std::string v2_dir(const std::vector<std::string>& dirs) {
  auto layout = cgroups::probe();
  if (!layout) return "";
  for (const auto& h : layout->hierarchies)
    if (h.v2)
      for (const auto& d : dirs)
        if (d.starts_with(h.mountpoint + "/") || d == h.mountpoint) return d;
  return "";
}

guard::Instance instance_of(const nlohmann::json& g) {
  guard::Instance i;
  i.run_dir = g.value("run_dir", i.run_dir);
  i.bpffs = g.value("bpffs", i.bpffs);
  return i;
}

}  // namespace

Result<nlohmann::json> compile_guard_policy(const guard::Instance& inst, const std::string& ref) {
  std::string bin = guard::guard_binary();
  auto c = run_capture({bin, "--dir", inst.run_dir, "--bpffs", inst.bpffs, "--policy-dir",
                        inst.policy_dir, "prepare", "--policy", ref});
  if (!c)
    return std::unexpected(c.error().wrap("guard: cannot run " + bin +
                                          " (install veil-guard next to veil or set "
                                          "VEIL_GUARD_BIN)"));
  if (c->status != 0)
    return fail("annotations[\"" + std::string(kGuardAnnotation) + "\"] = \"" + ref +
                "\": " + trim(c->err));
  auto j = nlohmann::json::parse(c->out, nullptr, false);
  if (!j.is_object() || !j.contains("spec"))
    return fail("guard: " + bin + " prepare printed no policy");
  return j;
}

Result<std::optional<GuardPlan>> plan_guard(const oci::Spec& spec, bool oci_notify) {
  auto it = spec.annotations.find(kGuardAnnotation);
  if (it == spec.annotations.end()) return std::nullopt;
  const std::string& ref = it->second;
  GuardPlan p;
  p.inst = guard::Instance::from_env();
  auto j = VEIL_TRY(compile_guard_policy(p.inst, ref));
  p.spec = VEIL_TRY(guard::Spec::from_json(j["spec"]));
  p.mechs = j.value("mechs", 0U);
  std::string bpf_error = j.value("bpf_error", std::string());
  p.daemon = guard::daemon_running(p.inst);

  if (p.spec.needs_bpf()) {
    if (p.mechs != 0) {
      p.use_bpf = true;
    } else {
      std::string why = bpf_error.empty() ? "not loaded" : bpf_error;
      if (p.spec.reverse_shell != Mode::off)
        return fail("guard policy " + p.spec.name +
                    ": rules.reverse_shell needs BPF, which is not "
                    "available here (" +
                    why + "); set it to off to run with Landlock only");
      if (p.spec.exec_rules != Mode::off && !p.spec.exec_allow.empty())
        return fail("guard policy " + p.spec.name + ": exec.allow needs BPF (" + why + ")");
      p.landlock_abi = landlock::abi();
      if (p.landlock_abi == 0)
        return fail("guard policy " + p.spec.name + ": neither BPF (" + why +
                    ") nor Landlock is available on this host");
      p.landlock_exec = p.spec.drift != Mode::off || p.spec.fileless != Mode::off;
      if (p.spec.egress != Mode::off && !p.spec.egress_allow_all) {
        if (p.landlock_abi < 4)
          return fail("guard policy " + p.spec.name + ": egress rules need BPF (" + why +
                      ") or Landlock ABI 4 (this kernel has " + std::to_string(p.landlock_abi) +
                      ")");
        auto ports = landlock_ports(p.spec);
        if (!ports) return std::unexpected(ports.error().wrap("guard policy " + p.spec.name));
        p.landlock_ports = *ports;
        p.landlock_net = true;
      }
      // A weaker guard than asked for: say so where the operator sees it, not only in the log.
      std::string msg = "guard: BPF unavailable (" + why +
                        "): drift/fileless/egress fall back to Landlock (no events)";
      log::warn(msg);
      std::string line = "veil: warning: " + msg + "\n";
      (void)!::write(STDERR_FILENO, line.data(), line.size());
    }
  }
  if (p.spec.exec_rules != Mode::off && !p.daemon)
    return fail("guard policy " + p.spec.name +
                ": exec allow/deny rules are decided by the guard "
                "daemon, which is not running (start `veil guard daemon`)");
  if (p.spec.write_rules != Mode::off) {
    if (p.landlock_abi == 0) p.landlock_abi = landlock::abi();
    if (p.landlock_abi == 0)
      return fail("guard policy " + p.spec.name + ": write rules need Landlock (not available)");
  }
  VEIL_CHECK(build_filter(p, oci_notify));
  return p;
}

Result<GuardPlan> plan_guest_guard(const std::string& compiled, bool oci_notify) {
  auto j = nlohmann::json::parse(compiled, nullptr, false);
  if (!j.is_object() || !j.contains("spec")) return fail("guard: bad plan from the agent");
  GuardPlan p;
  p.in_guest = true;
  p.spec = VEIL_TRY(guard::Spec::from_json(j["spec"]));
  p.mechs = j.value("mechs", 0U);
  if (p.spec.write_rules != Mode::off) {
    p.landlock_abi = landlock::abi();
    if (p.landlock_abi == 0)
      return fail("guard policy " + p.spec.name + ": write rules need Landlock (not in the guest)");
  }
  VEIL_CHECK(build_filter(p, oci_notify));
  return p;
}

nlohmann::json guest_guard_state(const GuardPlan& p) {
  return {{"in_guest", true},
          {"policy", p.spec.name},
          {"spec", p.spec.to_json()},
          {"mechs", p.mechs},
          {"landlock_abi", p.landlock_abi}};
}

Result<> early_in_container(const GuardPlan& p) {
  if (p.spec.memfd_noexec > 0) {
    // Through the host's /proc, which stage 2 still sees (the container's /proc/sys is read-only).
    // The sysctl is per pid namespace and applies to the writer's: ours.
    if (auto r = write_file("/proc/sys/vm/memfd_noexec", std::to_string(p.spec.memfd_noexec)); !r)
      return std::unexpected(r.error().wrap("guard: vm.memfd_noexec"));
  }
  return {};
}

Result<> prepare_in_container(GuardPlan& p) {
  landlock::Ruleset& rs = p.ruleset;
  if (p.spec.write_rules == Mode::enforce)
    VEIL_CHECK(guard::add_write_deny(p.spec.write_deny, p.landlock_abi, rs));
  if (p.landlock_exec) {
    auto mi = VEIL_TRY(read_file("/proc/self/mountinfo"));
    VEIL_CHECK(guard::add_exec_fallback(mi, rs));
  }
  if (p.landlock_net) {
    rs.handled_net = landlock::kNetConnectTcp;
    for (uint16_t port : p.landlock_ports) rs.ports.emplace_back(port, landlock::kNetConnectTcp);
  }
  return {};
}

Result<int> load_in_container(GuardPlan& p) {
  int fd = VEIL_TRY(p.filter.load());
  if (p.ruleset.handled_fs || p.ruleset.handled_net) VEIL_CHECK(landlock::restrict_self(p.ruleset));
  return fd;
}

Result<> attach_guard(GuardPlan& p, State& st, Fd notify_fd) {
  std::string dir = v2_dir(st.cgroup_dirs);
  guard::ContainerInfo info;
  info.id = st.id;
  info.pid = st.pid;
  info.pid_start_time = st.pid_start_time;
  info.created_ns = guard::coarse_now_ns();
  if (p.use_bpf) {
    if (dir.empty()) return fail("guard: the container has no cgroup v2 directory");
    info.cgroup_id = VEIL_TRY(guard::cgroup_id(dir));
  } else if (!dir.empty()) {
    if (auto id = guard::cgroup_id(dir)) info.cgroup_id = *id;
  }
  std::string shm = "/proc/" + std::to_string(st.pid) + "/root/dev/shm";
  if (auto dev = guard::kernel_dev(shm)) info.shm_devs.push_back(*dev);

  guard::Registration reg;
  if (p.use_bpf) {
    reg = VEIL_TRY(guard::register_container(p.inst, p.spec, info));
  } else {
    reg.cgroup_id = info.cgroup_id;
    VEIL_CHECK(guard::write_registry_file(p.inst, p.spec, info));
  }
  st.guard = {{"registration", reg.to_json()},
              {"run_dir", p.inst.run_dir},
              {"bpffs", p.inst.bpffs},
              {"policy", p.spec.name},
              {"spec", p.spec.to_json()},
              {"bpf", p.use_bpf},
              {"daemon", p.daemon},
              {"landlock_abi", p.landlock_abi},
              {"landlock_exec", p.landlock_exec},
              {"landlock_net", p.landlock_net},
              {"landlock_ports", p.landlock_ports}};
  if (p.daemon) {
    auto r = guard::control_call(p.inst, {{"op", "register"}, {"cgroup_id", info.cgroup_id}},
                                 notify_fd.get());
    if (!r) {
      detach_guard(st);
      st.guard = nullptr;
      return std::unexpected(r.error());
    }
  }
  return {};
}

void detach_guard(const State& st) {
  if (st.guard.is_null() || !st.guard.is_object()) return;
  if (st.guard.value("in_guest", false)) return;  // the agent's registration goes with the VM
  guard::Instance inst = instance_of(st.guard);
  auto reg = guard::Registration::from_json(st.guard.value("registration", nlohmann::json()));
  if (st.guard.value("daemon", false))
    if (auto r = guard::control_call(inst, {{"op", "unregister"}, {"cgroup_id", reg.cgroup_id}}, -1,
                                     1000);
        !r)
      log::debug("guard: unregister from the daemon: " + r.error().str());
  if (auto r = guard::unregister_container(inst, reg); !r)
    log::warn("guard: unregister container " + st.id + ": " + r.error().str());
}

Result<std::optional<GuardPlan>> plan_guard_for_exec(const State& st, bool oci_notify) {
  if (st.guard.is_null() || !st.guard.is_object()) return std::nullopt;
  if (st.guard.value("in_guest", false))
    return plan_guest_guard(
        nlohmann::json{{"spec", st.guard["spec"]}, {"mechs", st.guard.value("mechs", 0U)}}.dump(),
        oci_notify);
  GuardPlan p;
  p.inst = instance_of(st.guard);
  p.spec = VEIL_TRY(guard::Spec::from_json(st.guard.value("spec", nlohmann::json())));
  p.daemon = guard::daemon_running(p.inst);
  p.landlock_abi = st.guard.value("landlock_abi", 0);
  p.landlock_exec = st.guard.value("landlock_exec", false);
  p.landlock_net = st.guard.value("landlock_net", false);
  if (st.guard.contains("landlock_ports"))
    p.landlock_ports = st.guard["landlock_ports"].get<std::vector<uint16_t>>();
  VEIL_CHECK(build_filter(p, oci_notify));
  return p;
}

Result<> attach_exec_notify(const GuardPlan& p, const State& st, pid_t pid, Fd notify_fd) {
  auto reg = guard::Registration::from_json(st.guard.value("registration", nlohmann::json()));
  auto r = guard::control_call(
      p.inst, {{"op", "notify_fd"}, {"cgroup_id", reg.cgroup_id}, {"pid", pid}}, notify_fd.get());
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace veil::runtime
