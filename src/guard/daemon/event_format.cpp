#include "guard/daemon/event_format.hpp"

#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "guard/bpf/guard_abi.h"

namespace veil::guard {
namespace {

std::string field(const char* s, size_t max) {
  return std::string(s, strnlen(s, max));
}

std::vector<std::string> split_nul(const char* p, size_t n) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < n) {
    size_t len = strnlen(p + i, n - i);
    out.emplace_back(p + i, len);
    i += len + 1;
  }
  return out;
}

// Leaf-first components, each followed by '/' (what the BPF side walks) -> "/a/b/c".
std::string leaf_first_path(const char* buf, uint32_t len, size_t cap) {
  auto parts = split(std::string_view(buf, std::min<size_t>(len, cap)), '/');
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it)
    if (!it->empty()) path += "/" + *it;
  return path.empty() ? "/" : path;
}

}  // namespace

ProcInfo proc_info(pid_t pid) {
  ProcInfo p;
  p.pid = pid;
  std::string base = "/proc/" + std::to_string(pid);
  if (auto s = read_file(base + "/comm")) {
    p.comm = *s;
    while (!p.comm.empty() && p.comm.back() == '\n') p.comm.pop_back();
  }
  p.exe = read_link(base + "/exe");
  p.cwd = read_link(base + "/cwd");
  if (auto s = read_file(base + "/cmdline")) p.argv = split_nul(s->data(), s->size());
  if (auto s = read_file(base + "/status")) {
    auto num = [&](const char* key) -> long {
      auto k = s->find(key);
      return k == std::string::npos ? 0 : std::atol(s->c_str() + k + std::strlen(key));
    };
    p.ppid = static_cast<pid_t>(num("\nPPid:"));
    p.uid = static_cast<uint32_t>(num("\nUid:"));
    p.gid = static_cast<uint32_t>(num("\nGid:"));
  }
  return p;
}

const char* rule_name(int rule) {
  switch (rule) {
    case VG_RULE_REVERSE_SHELL:
      return "reverse_shell";
    case VG_RULE_FILELESS:
      return "fileless_exec";
    case VG_RULE_DRIFT:
      return "drift";
    case VG_RULE_EGRESS:
      return "egress";
    case VG_RULE_WX:
      return "wx_memory";
    case VG_RULE_SENSITIVE:
      return "sensitive_syscalls";
    case VG_RULE_EXEC:
      return "exec";
  }
  return "unknown";
}

const char* action_name(int a) {
  switch (a) {
    case VG_ACT_BLOCKED:
      return "blocked";
    case VG_ACT_KILLED:
      return "killed";
    case VG_ACT_AUDITED:
      return "audited";
  }
  return "unknown";
}

const char* mechanism_name(int m) {
  switch (m) {
    case VG_MECH_TP_EXEC:
      return "bpf:tp_btf/sched_process_exec";
    case VG_MECH_LSM_BPRM:
      return "bpf:lsm/bprm_check_security";
    case VG_MECH_CONNECT4:
      return "bpf:cgroup/connect4";
    case VG_MECH_CONNECT6:
      return "bpf:cgroup/connect6";
    case VG_MECH_SENDMSG4:
      return "bpf:cgroup/sendmsg4";
    case VG_MECH_SENDMSG6:
      return "bpf:cgroup/sendmsg6";
    case VG_MECH_LSM_CONNECT:
      return "bpf:lsm/socket_connect";
    case VG_MECH_LSM_MPROTECT:
      return "bpf:lsm/file_mprotect";
    case VG_MECH_LSM_MMAP:
      return "bpf:lsm/mmap_file";
  }
  return "bpf";
}

const char* detail_name(int d) {
  switch (d) {
    case VG_D_MEMFD:
      return "memfd";
    case VG_D_DELETED:
      return "deleted file";
    case VG_D_SHM:
      return "file on /dev/shm";
    case VG_D_CTIME:
      return "changed after the container was created";
    case VG_D_STDIO_SOCKET:
      return "stdin/stdout/stderr is a network socket";
    case VG_D_PARENT_SOCKET:
      return "the parent's stdio is a network socket";
    case VG_D_NETCAT_EXEC:
      return "netcat started with a program to run";
    case VG_D_SOCAT_EXEC:
      return "socat EXEC:/SYSTEM: address";
    case VG_D_NOT_APPROVED:
      return "not on the exec allow list";
  }
  return "";
}

std::string boot_ns_to_rfc3339(uint64_t boot_ns) {
  struct timespec rt, bt;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_BOOTTIME, &bt);
  int64_t now_rt = rt.tv_sec * 1'000'000'000LL + rt.tv_nsec;
  int64_t now_bt = bt.tv_sec * 1'000'000'000LL + bt.tv_nsec;
  int64_t t = now_rt - (now_bt - static_cast<int64_t>(boot_ns));
  struct timespec ts {
    t / 1'000'000'000LL, t % 1'000'000'000LL
  };
  return format_rfc3339(ts);
}

nlohmann::json base_event(const Container* c, uint64_t cgroup_id, const char* rule,
                          const char* action, const std::string& mechanism, const ProcInfo& p) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  nlohmann::json j = {{"type", "event"},
                      {"time", format_rfc3339(now)},
                      {"container", c ? c->id : std::to_string(cgroup_id)},
                      {"policy", c ? c->spec.name : ""},
                      {"rule", rule},
                      {"action", action},
                      {"mechanism", mechanism},
                      {"pid", p.pid},
                      {"ppid", p.ppid},
                      {"uid", p.uid},
                      {"gid", p.gid},
                      {"comm", p.comm},
                      {"exe", p.exe},
                      {"argv", p.argv},
                      {"cwd", p.cwd}};
  return j;
}

nlohmann::json from_bpf(const vg_event& e, Containers& containers) {
  const Container* c = containers.find(e.cgroup_id);
  ProcInfo p;
  p.pid = static_cast<pid_t>(e.pid);
  p.ppid = static_cast<pid_t>(e.ppid);
  p.uid = e.uid;
  p.gid = e.gid;
  p.comm = field(e.comm, sizeof(e.comm));
  p.exe = field(e.exe, sizeof(e.exe));
  // A mapping event's argv buffer holds the mapped file (guard_abi.h).
  bool mapping = (e.mech == VG_MECH_LSM_MMAP || e.mech == VG_MECH_LSM_MPROTECT) &&
                 (e.rule == VG_RULE_DRIFT || e.rule == VG_RULE_FILELESS);
  if (!mapping) p.argv = split_nul(e.argv, std::min<size_t>(e.argv_len, sizeof(e.argv)));
  p.cwd = leaf_first_path(e.cwd, e.cwd_len, sizeof(e.cwd));
  bool net = e.rule == VG_RULE_EGRESS;
  if (p.exe.empty()) {
    // Network and memory events: the process was refused, not killed, and may still be there.
    ProcInfo live = proc_info(p.pid);
    p.exe = live.exe;
    if (p.argv.empty()) p.argv = live.argv;
  }
  auto j = base_event(c, e.cgroup_id, rule_name(e.rule), action_name(e.action),
                      mechanism_name(e.mech), p);
  if (!c) j["container"] = field(e.container_id, sizeof(e.container_id));
  j["time"] = boot_ns_to_rfc3339(e.ts_boot_ns);
  if (const char* d = detail_name(e.detail); *d) j["detail"] = d;
  if (mapping) j["file"] = leaf_first_path(e.argv, e.argv_len, sizeof(e.argv));
  if (net) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(e.family == 2 ? AF_INET : AF_INET6, e.addr, buf, sizeof(buf));
    std::string host = e.family == 2 ? buf : "[" + std::string(buf) + "]";
    j["remote"] = host + ":" + std::to_string(e.port);
    j["protocol"] = e.proto == 6 ? "tcp" : e.proto == 17 ? "udp" : std::to_string(e.proto);
  }
  return j;
}

}  // namespace veil::guard
