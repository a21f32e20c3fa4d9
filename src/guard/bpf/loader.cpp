#include "guard/bpf/loader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/registry.hpp"
#include "linux/cgroups.hpp"

// Generated at build time by `bpftool gen skeleton` from guard.bpf.c.
#include "guard.skel.h"

namespace veil::guard {
namespace {

const char* const kMaps[] = {"policies", "names", "approved", "events", "stats", "meta"};
// link_lsm_connect: pinned by earlier versions (lsm/socket_connect), removed on unload.
const char* const kLinks[] = {"link_exec",        "link_connect4",     "link_connect6",
                              "link_sendmsg4",    "link_sendmsg6",     "link_lsm_exec",
                              "link_lsm_connect", "link_lsm_mprotect", "link_lsm_mmap"};

std::string g_libbpf_log;
int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  // The verifier's log arrives in one call and its verdict is at the end: keep the tail.
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string line(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, ap);
  line.pop_back();
  g_libbpf_log += line;
  if (g_libbpf_log.size() > 16384) g_libbpf_log.erase(0, g_libbpf_log.size() - 16384);
  return 0;
}

Result<> ensure_bpffs(const std::string& dir) {
  struct statfs st;
  if (::statfs("/sys/fs/bpf", &st) != 0 || st.f_type != BPF_FS_MAGIC) {
    ::mkdir("/sys/fs/bpf", 0700);
    if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
      return fail_errno("mount bpffs on /sys/fs/bpf");
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno("mkdir " + dir);
  return {};
}

Result<std::string> cgroup2_root() {
  auto layout = VEIL_TRY(cgroups::probe());
  for (const auto& h : layout.hierarchies)
    if (h.v2) return h.mountpoint;
  return fail(
      "no cgroup v2 hierarchy is mounted: the guard keys containers by cgroup v2 id "
      "(mount cgroup2, e.g. a hybrid layout at /sys/fs/cgroup/unified)");
}

// Both sets have the exec tracepoint (with BPF LSM only for the checks that need the new argv)
// and the cgroup socket programs (egress); the LSM set adds the exec and W^X hooks.
void set_lsm_autoload(guard_bpf* s, bool lsm) {
  bpf_program__set_autoload(s->progs.vg_lsm_exec, lsm);
  bpf_program__set_autoload(s->progs.vg_lsm_mprotect, lsm);
  bpf_program__set_autoload(s->progs.vg_lsm_mmap, lsm);
}

struct Skel {
  guard_bpf* s = nullptr;
  ~Skel() {
    if (s) guard_bpf__destroy(s);
  }
};

Result<> attach_pin(bpf_link* link, const std::string& pin, const char* what) {
  if (!link) return fail("attach " + std::string(what), errno);
  int err = bpf_link__pin(link, pin.c_str());
  bpf_link__destroy(link);  // the pin keeps it attached
  if (err) return fail("pin " + pin, -err);
  return {};
}

// FNV-1a over the embedded BPF object: tells this build's programs from another's with the same
// ABI.
uint32_t object_hash() {
  size_t n = 0;
  auto* p = static_cast<const unsigned char*>(guard_bpf__elf_bytes(&n));
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
  return h ? h : 1;
}

// The build hash of the pinned programs (0 when unknown).
uint32_t pinned_build(const Instance& inst) {
  int fd = bpf_obj_get(inst.pin("meta").c_str());
  if (fd < 0) return 0;
  uint32_t key = VG_META_BUILD, val = 0;
  bpf_map_lookup_elem(fd, &key, &val);
  ::close(fd);
  return val;
}

// Loads one program set; on success everything is attached and pinned.
Result<uint32_t> load_set(const Instance& inst, bool lsm) {
  Skel k;
  k.s = guard_bpf__open();
  if (!k.s) return fail("open the guard BPF object", errno);
  set_lsm_autoload(k.s, lsm);
  g_libbpf_log.clear();
  if (int err = guard_bpf__load(k.s); err) {
    std::string log = g_libbpf_log;
    if (log.size() > 1500) log = "..." + log.substr(log.size() - 1500);
    return fail(
        std::string(lsm ? "BPF LSM" : "tracing") + " programs refused by the kernel: " + log, -err);
  }
  uint32_t mechs = 0;
  std::vector<std::string> done;
  auto cleanup = [&](Error e) -> Result<uint32_t> {
    for (const auto& p : done) ::unlink(p.c_str());
    return std::unexpected(std::move(e));
  };
  auto link = [&](bpf_link* l, const char* name, const char* what, uint32_t bit) -> Result<> {
    std::string pin = inst.pin(name);
    ::unlink(pin.c_str());
    VEIL_CHECK(attach_pin(l, pin, what));
    done.push_back(pin);
    mechs |= bit;
    return {};
  };
  if (lsm) {
    if (auto r = link(bpf_program__attach_lsm(k.s->progs.vg_lsm_exec), "link_lsm_exec",
                      "lsm/bprm_check_security", VG_MECHS_LSM_EXEC);
        !r)
      return cleanup(r.error());
    if (auto r = link(bpf_program__attach_lsm(k.s->progs.vg_lsm_mprotect), "link_lsm_mprotect",
                      "lsm/file_mprotect", VG_MECHS_LSM_WX);
        !r)
      return cleanup(r.error());
    if (auto r = link(bpf_program__attach_lsm(k.s->progs.vg_lsm_mmap), "link_lsm_mmap",
                      "lsm/mmap_file", 0);
        !r)
      return cleanup(r.error());
  }
  if (auto r = link(bpf_program__attach(k.s->progs.vg_exec), "link_exec",
                    "tp_btf/sched_process_exec", VG_MECHS_TP_EXEC);
      !r)
    return cleanup(r.error());
  {
    auto root = cgroup2_root();
    if (!root) return cleanup(root.error());
    Fd cg(::open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) return cleanup(Error{"open cgroup2 root " + *root, errno});
    struct {
      bpf_program* p;
      const char* pin;
      const char* what;
    } socks[] = {{k.s->progs.vg_connect4, "link_connect4", "cgroup/connect4"},
                 {k.s->progs.vg_connect6, "link_connect6", "cgroup/connect6"},
                 {k.s->progs.vg_sendmsg4, "link_sendmsg4", "cgroup/sendmsg4"},
                 {k.s->progs.vg_sendmsg6, "link_sendmsg6", "cgroup/sendmsg6"}};
    for (const auto& sp : socks)
      if (auto r = link(bpf_program__attach_cgroup(sp.p, cg.get()), sp.pin, sp.what,
                        VG_MECHS_CGROUP_NET);
          !r)
        return cleanup(r.error());
  }
  for (const char* m : kMaps) {
    bpf_map* map = bpf_object__find_map_by_name(k.s->obj, m);
    std::string pin = inst.pin(m);
    ::unlink(pin.c_str());
    if (int err = bpf_map__pin(map, pin.c_str()); err)
      return cleanup(Error{"pin map " + pin, -err});
    done.push_back(pin);
  }
  uint32_t key = VG_META_ABI, val = VG_ABI_VERSION;
  int meta = bpf_map__fd(k.s->maps.meta);
  bpf_map_update_elem(meta, &key, &val, BPF_ANY);
  key = VG_META_MECHS;
  bpf_map_update_elem(meta, &key, &mechs, BPF_ANY);
  key = VG_META_BUILD;
  val = object_hash();
  bpf_map_update_elem(meta, &key, &val, BPF_ANY);
  return mechs;
}

}  // namespace

uint64_t stat_total(int stats_fd, uint32_t slot) {
  int ncpu = libbpf_num_possible_cpus();
  if (stats_fd < 0 || ncpu <= 0) return 0;
  std::vector<uint64_t> v(static_cast<size_t>(ncpu));
  if (bpf_map_lookup_elem(stats_fd, &slot, v.data()) != 0) return 0;
  uint64_t sum = 0;
  for (auto x : v) sum += x;
  return sum;
}

std::string mechs_string(uint32_t m) {
  std::string s;
  auto add = [&](uint32_t bit, const char* name) {
    if (m & bit) s += std::string(s.empty() ? "" : ",") + name;
  };
  add(VG_MECHS_LSM_EXEC, "lsm:exec");
  add(VG_MECHS_LSM_NET, "lsm:net");
  add(VG_MECHS_LSM_WX, "lsm:wx");
  add(VG_MECHS_TP_EXEC, "tp_btf:exec");
  add(VG_MECHS_CGROUP_NET, "cgroup:net");
  return s.empty() ? "none" : s;
}

Result<LoadResult> load(const Instance& inst, bool replace) {
  libbpf_set_print(libbpf_print);
  VEIL_CHECK(ensure_bpffs(inst.bpffs));
  // Two first guarded creates (or a create and the daemon) may race to load: one loads, the
  // other then finds the pins.
  VEIL_CHECK(mkdir_all(inst.run_dir, 0700));
  Fd lock(::open((inst.run_dir + "/load.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return fail_errno("guard: open " + inst.run_dir + "/load.lock");
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) return fail_errno("guard: lock " + inst.run_dir + "/load.lock");
  LoadResult res;
  if (!replace) {
    // Reused only when it is this very build; an older veil-guard's programs (same maps, other
    // code) are replaced, and the caller writes the running containers back.
    if (auto m = loaded_mechanisms(inst); m && pinned_build(inst) == object_hash()) {
      res.mechs = *m;
      res.reused = true;
      return res;
    }
  }
  VEIL_CHECK(unload(inst));
  VEIL_CHECK(ensure_bpffs(inst.bpffs));
  // VEIL_GUARD_NO_LSM: the fallback set even where BPF LSM works (to compare the two, and how the
  // VM test runs the fallback programs on a kernel with BPF LSM).
  if (std::getenv("VEIL_GUARD_NO_LSM")) {
    res.lsm_refusal = "VEIL_GUARD_NO_LSM is set";
  } else {
    auto lsm = load_set(inst, true);
    if (lsm) {
      res.mechs = *lsm;
      return res;
    }
    res.lsm_refusal = lsm.error().str();
  }
  res.mechs = VEIL_TRY(load_set(inst, false));
  return res;
}

Result<> unload(const Instance& inst) {
  for (const char* l : kLinks) ::unlink(inst.pin(l).c_str());
  for (const char* m : kMaps) ::unlink(inst.pin(m).c_str());
  if (::rmdir(inst.bpffs.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY)
    return fail_errno("remove " + inst.bpffs);
  return {};
}

}  // namespace veil::guard
