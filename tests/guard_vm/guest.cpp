// The guest side of the guard's VM test (tests/guard_vm): /init of a QEMU TCG guest booting
// Debian's cloud kernel, where BPF LSM works. Not a second agent: it is the test's program, built
// on the product's guest code (veil_guest: the guest's mounts and loopback from src/agent, the
// guard's loader, registry and event formatting). It loads the guard (BPF LSM first, as on any
// host; then, with VEIL_GUARD_NO_LSM, the fallback set on the same kernel), registers cgroups
// through the production registration path with the specs the host compiled from YAML
// (`veil-guard prepare`), runs attacks inside and outside them, and prints what happened and
// every ring-buffer event as "VGVM <json>" lines on the console. It judges nothing: the
// expectations live in guard_vm_test.cpp on the host. The microVM product path (veil-agent
// loading the same programs for a container) is tested by tests/guard's GuardAttack.InAMicrovm….
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/guest_boot.hpp"
#include "base/file.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/bpf/loader.hpp"
#include "guard/daemon/containers.hpp"
#include "guard/daemon/event_format.hpp"
#include "guard/registry.hpp"
#include "guard/spec.hpp"

namespace {

using nlohmann::json;
using namespace veil;
using namespace veil::guard;

// The policies allow TCP and UDP to 127.0.0.1:8080 only; both ports have listeners.
constexpr uint16_t kAllowedPort = 8080;
constexpr uint16_t kOtherPort = 9090;
const char* const kBusybox = "/bin/busybox";
const char* const kCgroupRoot = "/sys/fs/cgroup";
// Every exec'd program runs busybox's shell, which exits 42: "ran:42" means it ran.
char* const kArgv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                       const_cast<char*>("exit 42"), nullptr};
char* const kEnv[] = {nullptr};

// One line per record, in one write(2): kernel messages on the console cannot split it.
void say(const json& j) {
  std::string s = "VGVM " + j.dump() + "\n";
  ssize_t n = ::write(1, s.data(), s.size());
  (void)n;
}

void error(const std::string& what) {
  say({{"kind", "error"}, {"what", what}});
}

std::string err(int e) {
  const char* n = strerrorname_np(e);
  return std::string("errno:") + (n ? n : std::to_string(e));
}

double monotonic_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double uptime_s() {
  auto t = read_file("/proc/uptime");
  return t ? std::strtod(t->c_str(), nullptr) : -1;
}

// A dual-stack listener on [::]:port (IPv4 arrives as ::ffff:a.b.c.d).
int listener(int type, uint16_t port) {
  int s = ::socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int off = 0, on = 1;
  ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr = in6addr_any;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      (type == SOCK_STREAM && ::listen(s, 128) != 0))
    error("listen on port " + std::to_string(port) + ": " + std::strerror(errno));
  return s;
}

std::vector<int> g_tcp_listeners;

// Accepted connections would fill the backlog: close them between checks.
void drain_listeners() {
  for (int l : g_tcp_listeners)
    for (int c; (c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) ::close(c);
}

socklen_t make_addr(int family, const char* addr, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof(*ss));
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, addr, &in->sin_addr);
    return sizeof(*in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &in6->sin6_addr);
  return sizeof(*in6);
}

// ---- the actions, each run in a child process; they return what happened ----

std::string do_connect(int family, int type, const char* addr, uint16_t port) {
  int s = ::socket(family, type | SOCK_CLOEXEC, 0);
  if (s < 0) return "socket:" + err(errno);
  sockaddr_storage ss;
  socklen_t len = make_addr(family, addr, port, &ss);
  int r = ::connect(s, reinterpret_cast<sockaddr*>(&ss), len);
  std::string res = r == 0 ? "ok" : err(errno);
  ::close(s);
  return res;
}

std::string do_sendto(const char* addr, uint16_t port) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return "socket:" + err(errno);
  sockaddr_storage ss;
  socklen_t len = make_addr(AF_INET, addr, port, &ss);
  ssize_t n = ::sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len);
  std::string res = n == 1 ? "ok" : err(errno);
  ::close(s);
  return res;
}

// TCP Fast Open: sendto() on an unconnected TCP socket connects (no connect(2) call).
std::string do_fastopen(const char* addr, uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return "socket:" + err(errno);
  sockaddr_storage ss;
  socklen_t len = make_addr(AF_INET, addr, port, &ss);
  ssize_t n = ::sendto(s, "x", 1, MSG_FASTOPEN, reinterpret_cast<sockaddr*>(&ss), len);
  std::string res = n == 1 ? "ok" : err(errno);
  ::close(s);
  return res;
}

std::string do_exec(const char* path) {
  ::execve(path, kArgv, kEnv);
  return err(errno);
}

std::string do_exec_argv(const char* path, std::vector<const char*> argv) {
  argv.push_back(nullptr);
  ::execve(path, const_cast<char* const*>(argv.data()), kEnv);
  return err(errno);
}

std::string do_exec_memfd() {
  int fd = ::memfd_create("payload", 0);
  int src = ::open(kBusybox, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || src < 0 || ::fstat(src, &st) != 0) return "memfd:" + err(errno);
  for (off_t off = 0; off < st.st_size;)
    if (::sendfile(fd, src, &off, static_cast<size_t>(st.st_size - off)) <= 0)
      return "copy:" + err(errno);
  ::close(src);
  ::fexecve(fd, kArgv, kEnv);
  return err(errno);
}

// The classic reverse shell: a TCP connection (to an allowed destination) as the shell's stdio.
// path: the shell; a multi-call binary under another name picks the shell by argv[0].
std::string do_reverse_shell(const char* path) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_storage ss;
  socklen_t len = make_addr(AF_INET, "127.0.0.1", kAllowedPort, &ss);
  if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return "connect:" + err(errno);
  for (int fd = 0; fd < 3; ++fd) ::dup2(s, fd);
  ::execve(path, kArgv, kEnv);
  return err(errno);
}

std::string do_mprotect_anon_rx() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return "mmap:" + err(errno);
  static_cast<unsigned char*>(p)[0] = 0xc3;  // ret: what a JIT or shellcode loader writes
  return ::mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? "ok" : err(errno);
}

std::string do_mmap_anon_rwx() {
  void* p =
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? err(errno) : "ok";
}

// What the dynamic loader does with a library: read-only file mapping made executable.
std::string do_mprotect_file_rx() {
  int fd = ::open(kBusybox, O_RDONLY | O_CLOEXEC);
  void* p = fd < 0 ? MAP_FAILED : ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return "mmap:" + err(errno);
  return ::mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? "ok" : err(errno);
}

std::string do_mmap_file_wx() {
  int fd = ::open(kBusybox, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "open:" + err(errno);
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE, fd, 0);
  return p == MAP_FAILED ? err(errno) : "ok";
}

// What a dynamic loader does with a program or library it was handed (`ld.so /tmp/x`, dlopen):
// map the file executable, or map it readable and then make it executable. Never an exec.
std::string map_exec(int fd, bool then_mprotect) {
  if (fd < 0) return "open:" + err(errno);
  void* p =
      ::mmap(nullptr, 4096, then_mprotect ? PROT_READ : PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  int e = errno;
  if (p == MAP_FAILED) {
    ::close(fd);
    return then_mprotect ? "mmap:" + err(e) : err(e);
  }
  std::string r = "ok";
  if (then_mprotect && ::mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0) r = err(errno);
  ::munmap(p, 4096);
  ::close(fd);
  return r;
}

std::string do_map_memfd() {
  int fd = ::memfd_create("payload", 0);
  if (fd < 0 || ::ftruncate(fd, 4096) != 0) return "memfd:" + err(errno);
  return map_exec(fd, false);
}

struct Check {
  const char* name;
  std::function<std::string()> action;
};

std::vector<Check> checks(const std::string& dropped) {
  return {
      {"exec_image", [] { return do_exec(kBusybox); }},
      {"exec_dropped", [dropped] { return do_exec(dropped.c_str()); }},
      {"exec_memfd", do_exec_memfd},
      {"reverse_shell", [] { return do_reverse_shell("/bin/sh"); }},
      {"reverse_shell_argv0", [] { return do_reverse_shell("/bin/renamed"); }},
      // nc runs /bin/true over the connection (an allowed destination): exit 0.
      {"netcat_exec",
       [] {
         return do_exec_argv(kBusybox, {"nc", "127.0.0.1", "8080", "-e", "/bin/true"});
       }},
      // /bin/socat is busybox, which has no such applet: exit 127 once it runs.
      {"socat_exec",
       [] {
         return do_exec_argv("/bin/socat", {"socat", "EXEC:/bin/sh", "TCP:127.0.0.1:8080"});
       }},
      {"tcp_allowed", [] { return do_connect(AF_INET, SOCK_STREAM, "127.0.0.1", kAllowedPort); }},
      {"tcp_other_port", [] { return do_connect(AF_INET, SOCK_STREAM, "127.0.0.1", kOtherPort); }},
      {"tcp_other_addr",
       [] { return do_connect(AF_INET, SOCK_STREAM, "127.0.0.2", kAllowedPort); }},
      {"tcp6_loopback", [] { return do_connect(AF_INET6, SOCK_STREAM, "::1", kAllowedPort); }},
      {"tcp_mapped_allowed",
       [] { return do_connect(AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", kAllowedPort); }},
      {"tcp_mapped_other",
       [] { return do_connect(AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", kOtherPort); }},
      {"tcp_fastopen_allowed", [] { return do_fastopen("127.0.0.1", kAllowedPort); }},
      {"tcp_fastopen_other", [] { return do_fastopen("127.0.0.1", kOtherPort); }},
      {"udp_connect_other",
       [] { return do_connect(AF_INET, SOCK_DGRAM, "127.0.0.1", kOtherPort); }},
      {"udp_sendto_allowed", [] { return do_sendto("127.0.0.1", kAllowedPort); }},
      {"udp_sendto_other", [] { return do_sendto("127.0.0.1", kOtherPort); }},
      {"mprotect_anon_rx", do_mprotect_anon_rx},
      {"mmap_anon_rwx", do_mmap_anon_rwx},
      {"mprotect_file_rx", do_mprotect_file_rx},
      {"mmap_file_wx", do_mmap_file_wx},
      {"mmap_dropped_x",
       [dropped] { return map_exec(::open(dropped.c_str(), O_RDONLY | O_CLOEXEC), false); }},
      {"mprotect_dropped_x",
       [dropped] { return map_exec(::open(dropped.c_str(), O_RDONLY | O_CLOEXEC), true); }},
      {"mmap_memfd_x", do_map_memfd},
      {"mmap_image_x", [] { return map_exec(::open(kBusybox, O_RDONLY | O_CLOEXEC), false); }},
  };
}

// Where a check runs: a cgroup v2 directory, or (empty) the root cgroup, where the agent is.
struct Where {
  std::string name, dir;
};

// Runs the action in a child placed in the cgroup. An action that execs reports through how the
// child ended ("ran:N", "killed:N"); one that returns reports its string (an errno name, "ok").
void run(const std::string& phase, const Check& c, const Where& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return error("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string r;
    if (!w.dir.empty()) {
      if (auto j = write_file(w.dir + "/cgroup.procs", "0"); !j) r = "join:" + j.error().str();
    }
    if (r.empty()) r = c.action();
    if (r.empty()) r = "?";
    ssize_t n = ::write(p[1], r.data(), r.size());
    _exit(n < 0 ? 1 : 0);
  }
  ::close(p[1]);
  std::string r;
  char buf[256];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof(buf))) > 0;) r.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (r.empty())
    r = WIFEXITED(st)     ? "ran:" + std::to_string(WEXITSTATUS(st))
        : WIFSIGNALED(st) ? "killed:" + std::to_string(WTERMSIG(st))
                          : "?";
  drain_listeners();
  say({{"kind", "check"},
       {"phase", phase},
       {"check", c.name},
       {"where", w.name},
       {"pid", pid},
       {"result", r}});
}

Result<Spec> load_spec(const std::string& path) {
  auto text = VEIL_TRY(read_file(path));
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("spec")) return fail(path + ": not veil-guard prepare output");
  return Spec::from_json(j["spec"]);
}

struct Cgroup {
  Where where;
  uint64_t id = 0;
  Registration reg;
};

Result<Cgroup> make_cgroup(const std::string& name, const std::string& rel) {
  Cgroup c;
  c.where = {name, std::string(kCgroupRoot) + "/" + rel};
  if (::mkdir(c.where.dir.c_str(), 0755) != 0 && errno != EEXIST)
    return fail_errno("mkdir " + c.where.dir);
  c.id = VEIL_TRY(cgroup_id(c.where.dir));
  return c;
}

Result<> register_cgroup(const Instance& inst, Cgroup& c, const Spec& spec) {
  ContainerInfo info;
  info.id = "vm-" + c.where.name;
  info.cgroup_id = c.id;
  info.pid = ::getpid();
  info.created_ns = coarse_now_ns();
  c.reg = VEIL_TRY(register_container(inst, spec, info));
  return {};
}

Result<> copy_file(const char* from, const std::string& to) {
  auto data = VEIL_TRY(read_file(from));
  VEIL_CHECK(write_file_atomic(to, data, 0755));
  return {};
}

struct EventCtx {
  Containers* containers;
  std::string phase;
  int count = 0;
};

int on_event(void* ctx, void* data, size_t size) {
  auto* c = static_cast<EventCtx*>(ctx);
  if (size < sizeof(vg_event)) {
    error("short ring-buffer record: " + std::to_string(size) + " bytes");
    return 0;
  }
  const auto* e = static_cast<const vg_event*>(data);
  say({{"kind", "event"},
       {"phase", c->phase},
       {"cgroup_id", e->cgroup_id},
       {"event", from_bpf(*e, *c->containers)}});
  c->count++;
  return 0;
}

// Every record in the ring buffer, as the daemon would format it.
int read_events(const Instance& inst, const std::string& phase) {
  Containers containers(inst);
  containers.scan();
  EventCtx ctx{&containers, phase};
  int fd = bpf_obj_get(inst.pin("events").c_str());
  if (fd < 0) {
    error("open the events ring buffer: " + std::string(std::strerror(errno)));
    return 0;
  }
  ring_buffer* rb = ring_buffer__new(fd, on_event, &ctx, nullptr);
  if (!rb) {
    error("ring_buffer__new: " + std::string(std::strerror(errno)));
  } else {
    ring_buffer__consume(rb);
    ring_buffer__free(rb);
  }
  ::close(fd);
  return ctx.count;
}

uint64_t percpu_sum(int fd, uint32_t slot) {
  int n = libbpf_num_possible_cpus();
  std::vector<uint64_t> v(n > 0 ? static_cast<size_t>(n) : 1);
  if (bpf_map_lookup_elem(fd, &slot, v.data()) != 0) return ~0ULL;
  uint64_t s = 0;
  for (uint64_t x : v) s += x;
  return s;
}

void report_stats(const Instance& inst, const std::string& phase, int events_read) {
  int fd = bpf_obj_get(inst.pin("stats").c_str());
  say({{"kind", "stats"},
       {"phase", phase},
       {"events_read", events_read},
       {"events", fd < 0 ? ~0ULL : percpu_sum(fd, VG_STAT_EVENTS)},
       {"dropped", fd < 0 ? ~0ULL : percpu_sum(fd, VG_STAT_DROPPED)}});
  if (fd >= 0) ::close(fd);
}

// Load, register, attack, read the events, unregister, unload.
void phase(const std::string& name, const Instance& inst, const Spec& enforce, const Spec& audit) {
  double t0 = monotonic_s();
  auto loaded = load(inst, /*replace=*/true);
  say({{"kind", "load"},
       {"phase", name},
       {"ok", loaded.has_value()},
       {"mechs", loaded ? mechs_string(loaded->mechs) : ""},
       {"lsm_refusal", loaded ? loaded->lsm_refusal : ""},
       {"error", loaded ? "" : loaded.error().str()},
       {"seconds", monotonic_s() - t0}});
  if (!loaded) return;

  auto guarded = make_cgroup("guarded", "guarded");
  auto nested = make_cgroup("nested", "guarded/inner");
  auto audited = make_cgroup("audited", "audited");
  for (const auto* c : {&guarded, &nested, &audited})
    if (!*c) return error("cgroups: " + c->error().str());
  if (auto r = register_cgroup(inst, *guarded, enforce); !r) return error(r.error().str());
  if (auto r = register_cgroup(inst, *audited, audit); !r) return error(r.error().str());
  for (const Cgroup* c : {&*guarded, &*nested, &*audited})
    say({{"kind", "cgroup"}, {"phase", name}, {"where", c->where.name}, {"id", c->id}});
  // Dropped after registration: drift for both containers.
  std::string dropped = "/tmp/dropped-" + name;
  if (auto r = copy_file(kBusybox, dropped); !r) return error(r.error().str());

  double t1 = monotonic_s();
  Where host{"host", ""};
  for (const auto& c : checks(dropped))
    for (const Where* w : {&host, &guarded->where, &nested->where, &audited->where})
      run(name, c, *w);
  int n = read_events(inst, name);

  // After unregistration the same cgroup is not guarded any more.
  if (auto r = unregister_container(inst, guarded->reg); !r) error(r.error().str());
  if (auto r = unregister_container(inst, audited->reg); !r) error(r.error().str());
  const Where gone{"unregistered", guarded->where.dir};
  for (const auto& c : checks(dropped))
    if (std::string(c.name) == "exec_dropped" || std::string(c.name) == "tcp_other_port")
      run(name, c, gone);
  n += read_events(inst, name);
  report_stats(inst, name, n);
  say({{"kind", "timing"}, {"phase", name}, {"checks_seconds", monotonic_s() - t1}});

  if (auto r = unload(inst); !r) error(r.error().str());
  ::unlink(dropped.c_str());
  ::rmdir(nested->where.dir.c_str());
  ::rmdir(guarded->where.dir.c_str());
  ::rmdir(audited->where.dir.c_str());
}

void run_phases() {
  // The guest's mounts and loopback as veil-agent makes them; securityfs only to report the LSMs.
  if (auto r = agent::mount_basics(); !r) error(r.error().str());
  if (::mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr) != 0)
    error(std::string("mount securityfs: ") + std::strerror(errno));
  // bpffs: the loader mounts it at /sys/fs/bpf when it is missing, as on a host.
  if (auto r = agent::configure_network(nullptr); !r) error(r.error().str());
  g_tcp_listeners = {listener(SOCK_STREAM, kAllowedPort), listener(SOCK_STREAM, kOtherPort)};
  int udp[] = {listener(SOCK_DGRAM, kAllowedPort), listener(SOCK_DGRAM, kOtherPort)};
  (void)udp;

  struct utsname u;
  ::uname(&u);
  auto lsm = read_file("/sys/kernel/security/lsm");
  say({{"kind", "boot"},
       {"release", u.release},
       {"uptime", uptime_s()},
       {"btf", path_exists("/sys/kernel/btf/vmlinux")},
       {"lsm", lsm ? *lsm : ""}});

  auto enforce = load_spec("/etc/guard-vm/enforce.json");
  auto audit = load_spec("/etc/guard-vm/audit.json");
  if (!enforce || !audit) return error((enforce ? audit : enforce).error().str());

  Instance inst;
  inst.run_dir = "/run/veil/guard";
  inst.bpffs = "/sys/fs/bpf/veil";
  // What a host with BPF LSM gets.
  phase("lsm", inst, *enforce, *audit);
  // The fallback set (what hosts without BPF LSM get), on the same kernel.
  ::setenv("VEIL_GUARD_NO_LSM", "1", 1);
  phase("fallback", inst, *enforce, *audit);
}

}  // namespace

int main() {
  if (::getpid() != 1) {
    std::fprintf(stderr, "guard_vm_guest: runs as /init of the test VM only\n");
    return 2;
  }
  run_phases();
  say({{"kind", "done"}, {"uptime", uptime_s()}});
  ::sync();
  ::reboot(RB_POWER_OFF);
  for (;;) ::pause();  // pid 1 must not exit
}
