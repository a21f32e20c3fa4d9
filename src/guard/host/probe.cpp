#include "guard/host/probe.hpp"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdarg>
#include <cstring>

#include "base/file.hpp"
#include "guard.skel.h"
#include "guard/bpf/guard_abi.h"
#include "guard/bpf/loader.hpp"
#include "guard/control.hpp"
#include "guard/registry.hpp"
#include "guard/seccomp_rules.hpp"
#include "linux/cgroups.hpp"
#include "linux/landlock.hpp"

namespace veil::guard {
namespace {

int quiet(enum libbpf_print_level, const char*, va_list) {
  return 0;
}

// Loads only `prog` of the guard object (nothing is attached) to see whether the kernel accepts it.
bool try_load(const char* which, std::string* why) {
  guard_bpf* s = guard_bpf__open();
  if (!s) {
    *why = "cannot open the BPF object";
    return false;
  }
  bpf_object* obj = s->obj;
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    bpf_program__set_autoload(p, std::string(bpf_program__name(p)) == which);
  }
  int err = guard_bpf__load(s);
  guard_bpf__destroy(s);
  if (err) *why = std::string("refused by the kernel: ") + strerror(-err);
  return err == 0;
}

std::string yes(bool b) {
  return b ? "yes" : "no";
}

}  // namespace

Probe probe_host(const Instance& inst) {
  libbpf_set_print(quiet);
  Probe p;
  p.root = ::geteuid() == 0;
  if (auto layout = cgroups::probe())
    for (const auto& h : layout->hierarchies)
      if (h.v2) p.cgroup2 = h.mountpoint;
  p.btf = path_exists("/sys/kernel/btf/vmlinux");
  if (!path_exists("/sys/kernel/security/lsm"))
    ::mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
  if (auto lsm = read_file("/sys/kernel/security/lsm"))
    p.lsm_listed = ("," + *lsm + ",").find(",bpf,") != std::string::npos;
  p.lsm_bpf = try_load("vg_lsm_exec", &p.lsm_error);
  if (!p.lsm_listed && !p.lsm_bpf)
    p.lsm_error = "bpf is not in the kernel's LSM list (boot with lsm=...,bpf)";
  p.tp_btf = try_load("vg_exec", &p.tp_error);
  p.cgroup_sock = try_load("vg_connect4", &p.sock_error);
  int fan = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
  if (fan >= 0) {
    p.fanotify_perm = true;
    ::close(fan);
  }
  seccomp_notif_sizes sz{};
  p.seccomp_notify = ::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) == 0;
  p.mdwe = mdwe_available();
  p.memfd_noexec = path_exists("/proc/sys/vm/memfd_noexec");
  p.landlock_abi = landlock::abi();
  if (auto m = loaded_mechanisms(inst)) p.loaded_mechs = *m;
  p.daemon = daemon_running(inst);
  return p;
}

nlohmann::json probe_json(const Probe& p) {
  return {{"root", p.root},
          {"cgroup2", p.cgroup2},
          {"btf", p.btf},
          {"bpf_lsm", p.lsm_bpf},
          {"bpf_lsm_error", p.lsm_error},
          {"tp_btf", p.tp_btf},
          {"tp_btf_error", p.tp_error},
          {"cgroup_sock_addr", p.cgroup_sock},
          {"fanotify_exec_perm", p.fanotify_perm},
          {"seccomp_user_notif", p.seccomp_notify},
          {"mdwe", p.mdwe},
          {"memfd_noexec", p.memfd_noexec},
          {"landlock_abi", p.landlock_abi},
          {"loaded", mechs_string(p.loaded_mechs)},
          {"daemon", p.daemon}};
}

std::string probe_table(const Probe& p) {
  std::string o;
  o += "host\n";
  o += "  root: " + yes(p.root) + ", cgroup v2: " + (p.cgroup2.empty() ? "no" : p.cgroup2) +
       ", BTF: " + yes(p.btf) + "\n";
  o += "  BPF LSM: " + (p.lsm_bpf ? std::string("yes") : "no (" + p.lsm_error + ")") + "\n";
  o +=
      "  tp_btf + bpf_send_signal: " + (p.tp_btf ? std::string("yes") : "no (" + p.tp_error + ")") +
      ", cgroup sock_addr: " + (p.cgroup_sock ? std::string("yes") : "no (" + p.sock_error + ")") +
      "\n";
  o += "  fanotify exec permission events: " + yes(p.fanotify_perm) +
       ", seccomp user notification: " + yes(p.seccomp_notify) + "\n";
  o += "  PR_SET_MDWE: " + yes(p.mdwe) + ", vm.memfd_noexec: " + yes(p.memfd_noexec) +
       ", Landlock: " + (p.landlock_abi ? "ABI " + std::to_string(p.landlock_abi) : "no") + "\n";
  o += "  guard programs: " + (p.loaded_mechs ? mechs_string(p.loaded_mechs) : "not loaded") +
       ", daemon: " + (p.daemon ? "running" : "not running") + "\n\n";

  bool lsm = p.lsm_bpf, tp = p.tp_btf, fan = p.fanotify_perm;
  const char* kill = "kills at exec, before the program's first instruction";
  std::vector<std::array<std::string, 3>> rows;
  auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
    rows.push_back({a, b, c});
  };
  if (lsm) {
    row("reverse_shell", "bpf lsm/bprm_check_security", "blocks before (exec fails: EPERM)");
    row("", "bpf tp_btf/sched_process_exec: netcat/socat arguments (need the new argv)", kill);
    row("fileless_exec", "bpf lsm/bprm_check_security", "blocks before");
    row("drift", "bpf lsm/bprm_check_security", "blocks before");
    row("egress", "bpf cgroup/connect4|6 + sendmsg4|6 on the cgroup v2 root",
        "blocks before (connect fails: EPERM)");
    row("wx_memory", "bpf lsm/file_mprotect + lsm/mmap_file", "blocks before (EACCES)");
  } else {
    row("reverse_shell", tp ? "bpf tp_btf/sched_process_exec + bpf_send_signal(SIGKILL)" : "none",
        tp ? kill : "not enforced: needs BPF");
    if (fan)
      row("fileless_exec", "fanotify FAN_OPEN_EXEC_PERM (daemon): deleted files, /dev/shm",
          "blocks before (exec fails: EPERM)");
    row(fan ? "" : "fileless_exec",
        tp ? "bpf tp_btf/sched_process_exec: memfd, and everything while the daemon is down"
           : "Landlock (no exec beneath writable tmpfs)",
        tp ? kill : "blocks before, no event");
    if (fan)
      row("drift", "fanotify FAN_OPEN_EXEC_PERM (daemon)", "blocks before (exec fails: EPERM)");
    row(fan ? "" : "drift", tp ? "bpf tp_btf/sched_process_exec" : "Landlock (writable tmpfs only)",
        tp ? kill : "blocks before, no event");
    row("egress",
        p.cgroup_sock ? "bpf cgroup/connect4|6 + sendmsg4|6 on the cgroup v2 root"
                      : "Landlock TCP connect ports (ABI >= 4)",
        p.cgroup_sock ? "blocks before (connect fails: EPERM)" : "blocks before, no event");
    row("wx_memory", p.seccomp_notify ? "seccomp user notification (daemon)" : "seccomp errno",
        "blocks before (EACCES)");
    row("", p.mdwe ? "PR_SET_MDWE (without the daemon)" : "seccomp errno (without the daemon)",
        "blocks before, no event");
  }
  row("sensitive_syscalls",
      p.seccomp_notify ? "seccomp user notification (daemon)" : "seccomp errno",
      "blocks before (EPERM)");
  row("", "seccomp errno (without the daemon)", "blocks before, no event");
  row("fileless_exec",
      p.memfd_noexec ? "vm.memfd_noexec in the container's pid namespace (opt-in)"
                     : "vm.memfd_noexec: not on this kernel",
      p.memfd_noexec ? "blocks before, no event" : "-");
  row("exec allow/deny",
      fan ? "fanotify FAN_OPEN_EXEC_PERM (daemon) + bpf approved-inode backstop" : "not available",
      fan ? "blocks before; unapproved execs killed while the daemon is down" : "-");
  row("write deny",
      p.landlock_abi ? "Landlock ABI " + std::to_string(p.landlock_abi) : "not available",
      p.landlock_abi ? "blocks before, no event" : "-");
  row("unprivileged",
      p.landlock_abi ? "Landlock: no exec beneath writable tmpfs, TCP ports" : "none",
      p.landlock_abi ? "blocks before, no event" : "-");

  size_t w0 = 10, w1 = 9;
  for (const auto& r : rows) {
    w0 = std::max(w0, r[0].size());
    w1 = std::max(w1, r[1].size());
  }
  auto pad = [](std::string s, size_t w) {
    s.resize(std::max(w, s.size()), ' ');
    return s;
  };
  o += pad("protection", w0) + "  " + pad("mechanism", w1) + "  effect\n";
  for (const auto& r : rows) o += pad(r[0], w0) + "  " + pad(r[1], w1) + "  " + r[2] + "\n";
  return o;
}

}  // namespace veil::guard
