#include "vm/boot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"

namespace veil::vm {
namespace {

// Bumped whenever the machine's device set changes (machine.cpp).
constexpr const char* kLayout = "l2";

// Templates live in RAM-backed /dev/shm (VEIL_VM_TEMPLATES overrides: tests, other tmpfs).
std::string template_root() {
  const char* e = ::getenv("VEIL_VM_TEMPLATES");
  return e && *e ? e : "/dev/shm/veil-vm";
}

// A short digest of the assets' identity (path, size, mtime): a rebuilt initramfs gets a new
// template.
std::string assets_tag(const Assets& a) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for (const auto& p : {a.kernel, a.initrd}) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    mix(strprintf("%s:%lld:%lld.%ld;", p.c_str(), static_cast<long long>(st.st_size),
                  static_cast<long long>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec));
  }
  return strprintf("%016llx", static_cast<unsigned long long>(h));
}

Result<> make_blank_disk(const std::string& path) {
  Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!f) return fail_errno("create " + path);
  if (::ftruncate(f.get(), off_t{kDiskMiB} << 20) != 0) return fail_errno("size " + path);
  return {};
}

bool alive(pid_t pid) {
  int status;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

void reap(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Spawns QEMU with fresh socket pairs for the agent and QMP, and does the QMP handshake.
Result<Guest> launch(const MachineSpec& m, int timeout_ms) {
  int as[2], qs[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, as) != 0 ||
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qs) != 0)
    return fail_errno("socketpair");
  Fd a_ours(as[0]), a_theirs(as[1]), q_ours(qs[0]), q_theirs(qs[1]);
  Guest g;
  g.qemu = VEIL_TRY(spawn_qemu(m, a_theirs.get(), q_theirs.get()));
  a_theirs.reset();
  q_theirs.reset();
  ::fcntl(a_ours.get(), F_SETFL, O_NONBLOCK);
  g.agent = std::move(a_ours);
  g.qmp = std::make_unique<Qmp>(std::move(q_ours));
  if (auto r = g.qmp->handshake(timeout_ms); !r) {
    reap(g.qemu);
    std::string tail = qemu_log_tail(m.log_path);
    return fail("QEMU did not start" + (tail.empty() ? "" : " (" + tail + ")") + ": " +
                r.error().str());
  }
  return g;
}

Result<> wait_ready(Guest& g, int timeout_ms, const std::string& log_path) {
  auto r = wait_frame(g.agent.get(), g.reader, FrameType::ready, 0, timeout_ms,
                      "guest boot (agent ready)");
  if (!r) {
    std::string tail = qemu_log_tail(log_path);
    return std::unexpected(tail.empty() ? r.error() : r.error().wrap(tail));
  }
  return {};
}

Result<Template> build_template(const Assets& a, const Shape& s, const std::string& dir,
                                int timeout_ms) {
  VEIL_CHECK(mkdir_all(dir, 0700));
  Template t{dir, dir + "/mem", dir + "/state", Fd()};
  std::string disk = dir + "/disk.img", log = dir + "/qemu.log";
  VEIL_CHECK(make_blank_disk(disk));
  MachineSpec m;
  m.accel = s.accel;
  m.assets = a;
  m.mem_mib = s.mem_mib;
  m.vcpus = s.vcpus;
  m.slots = s.slots;
  m.mem_path = t.mem;
  m.mem_shared = true;
  m.name = dir;
  m.disk = disk;
  m.log_path = log;
  auto g = VEIL_TRY(launch(m, timeout_ms));
  auto cleanup = [&](Error e) -> Result<Template> {
    reap(g.qemu);
    return std::unexpected(std::move(e).wrap("making the microVM template in " + dir));
  };
  if (auto r = wait_ready(g, timeout_ms, log); !r) return cleanup(r.error());
  std::string tmp = t.state + ".tmp";
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return cleanup(Error{"create " + tmp, errno});
  auto step = [&]() -> Result<> {
    VEIL_CHECK(
        g.qmp->execute("migrate-set-capabilities",
                       {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", true}}}}}));
    VEIL_CHECK(g.qmp->execute("stop"));
    VEIL_CHECK(g.qmp->send_fd("state", out.get()));
    VEIL_CHECK(g.qmp->execute("migrate", {{"uri", "fd:state"}}));
    VEIL_CHECK(g.qmp->wait_migration(timeout_ms));
    return {};
  };
  if (auto r = step(); !r) return cleanup(r.error());
  out.reset();
  reap(g.qemu);
  if (::rename(tmp.c_str(), t.state.c_str()) != 0) return cleanup(Error{"rename " + tmp, errno});
  return t;
}

}  // namespace

namespace {

// flock with a deadline (flock itself cannot time out).
Result<> lock_within(int fd, int op, int64_t deadline, const std::string& what) {
  while (::flock(fd, op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return fail_errno("lock " + what);
    if (monotonic_ms() > deadline)
      return fail("microVM template " + what +
                  ": another process holds its lock (still building?)");
    ::usleep(20'000);
  }
  return {};
}

bool template_ready(const Template& t) {
  return path_exists(t.state) && path_exists(t.mem);
}

// Templates of this shape made for other assets (an older initramfs): removed unless some
// sandbox holds them (its shared lock).
void remove_stale(const std::string& prefix, const std::string& name) {
  DIR* d = ::opendir(template_root().c_str());
  if (!d) return;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (!n.starts_with(prefix) || n == name || n.ends_with(".lock")) continue;
    std::string dir = template_root() + "/" + n;
    Fd other(::open((dir + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (other && ::flock(other.get(), LOCK_EX | LOCK_NB) == 0) (void)remove_all(dir);
  }
  ::closedir(d);
}

}  // namespace

Result<Template> ensure_template(const Assets& a, const Shape& s, int timeout_ms) {
  VEIL_CHECK(mkdir_all(template_root(), 0700));
  // The device layout is part of the key: clones need the template's exact devices.
  std::string prefix = strprintf("%s-%dm-%dc-%s-", s.accel.c_str(), s.mem_mib, s.vcpus, kLayout);
  if (s.slots > 0)
    prefix = strprintf("%s-%dm-%dc-%ds-%s-", s.accel.c_str(), s.mem_mib, s.vcpus, s.slots, kLayout);
  std::string name = prefix + assets_tag(a);
  std::string dir = template_root() + "/" + name;
  Template t{dir, dir + "/mem", dir + "/state", Fd()};
  t.lock.reset(::open((dir + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!t.lock) return fail_errno("template lock " + dir + ".lock");
  int64_t deadline = monotonic_ms() + timeout_ms;
  VEIL_CHECK(lock_within(t.lock.get(), LOCK_SH, deadline, dir));
  if (template_ready(t)) return t;
  // Build it, or wait for whoever builds it: the builder holds the lock exclusively, then shared
  // like every user, so a waiter looks for the finished template while it waits.
  for (;;) {
    if (::flock(t.lock.get(), LOCK_EX | LOCK_NB) == 0) break;
    if (template_ready(t)) {
      VEIL_CHECK(lock_within(t.lock.get(), LOCK_SH, deadline, dir));
      return t;
    }
    if (monotonic_ms() > deadline)
      return fail("microVM template " + dir + ": another process holds its lock (still building?)");
    ::usleep(20'000);
  }
  if (!template_ready(t)) {
    remove_stale(prefix, name);
    (void)remove_all(dir);
    auto built = build_template(a, s, dir, static_cast<int>(deadline - monotonic_ms()));
    if (!built) {
      (void)remove_all(dir);
      return std::unexpected(built.error());
    }
  }
  VEIL_CHECK(lock_within(t.lock.get(), LOCK_SH, deadline, dir));
  return t;
}

Result<Guest> start_guest(const Assets& a, const Shape& s, const Template* t,
                          const std::string& disk, const std::string& log_path, int timeout_ms,
                          const Devices& dev) {
  if (t && !dev.fs_fds.empty())
    return fail("shared directories need a cold boot (virtio-fs blocks snapshots)");
  MachineSpec m;
  m.name = dev.name;
  m.tap_fd = dev.tap_fd;
  m.user_net = dev.user_net;
  m.fs_fds = dev.fs_fds;
  m.fs_tags = dev.fs_tags;
  m.accel = s.accel;
  m.assets = a;
  m.mem_mib = s.mem_mib;
  m.vcpus = s.vcpus;
  m.slots = s.slots;
  m.disk = disk;
  m.log_path = log_path;
  if (t) {
    m.clone = true;
    m.mem_path = t->mem;
    m.mem_shared = false;
  }
  auto g = VEIL_TRY(launch(m, timeout_ms));
  g.how = t ? "clone" : "cold boot";
  auto cleanup = [&](Error e) -> Result<Guest> {
    reap(g.qemu);
    g.qemu = -1;
    return std::unexpected(std::move(e));
  };
  if (!t) {
    if (auto r = wait_ready(g, timeout_ms, log_path); !r) return cleanup(r.error());
    return g;
  }
  Fd state(::open(t->state.c_str(), O_RDONLY | O_CLOEXEC));
  if (!state) return cleanup(Error{"open the template's state " + t->state, errno});
  auto step = [&]() -> Result<> {
    VEIL_CHECK(
        g.qmp->execute("migrate-set-capabilities",
                       {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", true}}}}}));
    VEIL_CHECK(g.qmp->send_fd("state", state.get()));
    VEIL_CHECK(g.qmp->execute("migrate-incoming", {{"uri", "fd:state"}}));
    VEIL_CHECK(g.qmp->wait_migration(timeout_ms));
    auto st = VEIL_TRY(g.qmp->execute("query-status"));
    if (st.value("status", "") != "running") VEIL_CHECK(g.qmp->execute("cont"));
    return {};
  };
  if (auto r = step(); !r) {
    std::string tail = qemu_log_tail(log_path);
    return cleanup(r.error().wrap("restoring the template " + t->dir +
                                  (tail.empty() ? "" : " (" + tail + ")")));
  }
  if (!alive(g.qemu)) return cleanup(Error{"QEMU exited after the restore"});
  return g;
}

Accel choose_accel(const Assets& a) {
  Accel acc = probe_accel();
  if (acc.name != "kvm") return acc;
  auto boot_id = read_file("/proc/sys/kernel/random/boot_id");
  std::string cache =
      template_root() + "/kvm-probe." + (boot_id ? boot_id->substr(0, 36) : std::string("unknown"));
  if (auto c = read_file(cache)) {
    if (*c == "ok") return acc;
    return {"tcg", *c};
  }
  (void)mkdir_all(template_root(), 0700);
  std::string result = "ok";
  {
    std::string dir = template_root() + "/kvm-probe.tmp." + std::to_string(::getpid());
    (void)mkdir_all(dir, 0700);
    MachineSpec m;
    m.accel = "kvm";
    m.assets = a;
    m.disk = dir + "/disk.img";
    m.log_path = dir + "/qemu.log";
    (void)make_blank_disk(m.disk);
    auto g = launch(m, 5'000);
    if (!g) {
      result = "KVM probe: " + g.error().str();
    } else {
      int64_t deadline = monotonic_ms() + 5'000;
      result = "KVM probe: the guest did not boot within 5 s";
      while (monotonic_ms() < deadline) {
        auto r = wait_frame(g->agent.get(), g->reader, FrameType::ready, 0, 200, "KVM probe");
        if (r) {
          result = "ok";
          break;
        }
        auto st = g->qmp->execute("query-status", nullptr, 2'000);
        if (!st || st->value("status", "") != "running") {
          std::string tail = qemu_log_tail(m.log_path);
          result = "KVM cannot run the guest (" +
                   (st ? st->value("status", "?") : st.error().str()) +
                   (tail.empty() ? "" : ": " + tail.substr(0, tail.find('\n'))) + ")";
          break;
        }
      }
      reap(g->qemu);
    }
    (void)remove_all(dir);
  }
  (void)write_file_atomic(cache, result, 0600);
  if (result == "ok") return acc;
  return {"tcg", result};
}

std::string slot_serial(int i) {
  return strprintf("veil-slot%d", i);
}

Result<> attach_slot(Guest& g, int i, int image_fd, int timeout_ms) {
  if (!g.qmp) return fail("attach a disk: the guest has no QMP connection");
  // Each image gets a node named for the slot and a generation, so the old one can be deleted.
  static std::atomic<int> generation{0};
  std::string node = strprintf("slot%d-f%d", i, ++generation + 1000);
  auto added =
      VEIL_TRY(g.qmp->execute_with_fd("add-fd", nlohmann::json::object(), image_fd, timeout_ms));
  int set = added.value("fdset-id", -1);
  if (set < 0) return fail("add-fd: QEMU returned no fd set");
  auto step = [&]() -> Result<> {
    // What the slot holds now: its raw node's `file` child (slot<i>-f0 at boot).
    std::string old = g.slot_files.contains(i) ? g.slot_files[i] : strprintf("slot%d-f0", i);
    VEIL_CHECK(g.qmp->execute("blockdev-add",
                              {{"driver", "file"},
                               {"node-name", node},
                               {"filename", strprintf("/dev/fdset/%d", set)},
                               {"read-only", true}},
                              timeout_ms));
    VEIL_CHECK(g.qmp->execute("blockdev-reopen",
                              {{"options",
                                {{{"driver", "raw"},
                                  {"node-name", strprintf("slot%d", i)},
                                  {"file", node},
                                  {"read-only", true}}}}},
                              timeout_ms));
    g.slot_files[i] = node;
    (void)g.qmp->execute("blockdev-del", {{"node-name", old}}, timeout_ms);
    return {};
  };
  auto r = step();
  (void)g.qmp->execute("remove-fd", {{"fdset-id", set}}, timeout_ms);
  if (!r) return std::unexpected(r.error().wrap(strprintf("disk slot %d", i)));
  return {};
}

void stop_guest(Guest& g) {
  reap(g.qemu);
  g.qemu = -1;
}

}  // namespace veil::vm
