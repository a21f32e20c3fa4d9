#include "guard/daemon/exec_gate.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sstream>

#include "base/file.hpp"
#include "base/log.hpp"
#include "guard/bpf/guard_abi.h"
#include "guard/daemon/event_format.hpp"
#include "guard/landlock_plan.hpp"
#include "linux/mountinfo.hpp"

namespace veil::guard {
namespace {

// Filesystems whose files cannot carry permission events or never hold programs.
bool skip_fstype(const std::string& t) {
  return t == "proc" || t == "sysfs" || t == "cgroup" || t == "cgroup2" || t == "devpts" ||
         t == "mqueue" || t == "securityfs" || t == "debugfs" || t == "tracefs" || t == "bpf" ||
         t == "fusectl" || t == "configfs" || t == "pstore" || t == "binfmt_misc" || t == "nsfs";
}

int64_t ctime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000LL + st.st_ctim.tv_nsec;
}

uint32_t kdev(dev_t d) {
  return (static_cast<uint32_t>(major(d)) << 20) | minor(d);
}

}  // namespace

Result<> ExecGate::open() {
  int fd = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fd < 0) return fail_errno("fanotify_init (exec permission events)");
  fan_.reset(fd);
  return {};
}

bool ExecGate::needs_marks(const Container& c) const {
  return c.spec.drift == Mode::enforce || c.spec.fileless == Mode::enforce ||
         c.spec.exec_rules != Mode::off;
}

Result<> ExecGate::mark(Container& c) {
  if (!fan_ || !needs_marks(c)) return {};
  std::string base = "/proc/" + std::to_string(c.pid);
  auto mi = VEIL_TRY(read_file(base + "/mountinfo"));
  Fd root(::open((base + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return fail_errno("guard: open " + base + "/root");
  auto mounts = mountinfo::parse(mi);
  std::string dev_sb;  // major:minor of the filesystem mounted on /dev
  for (const auto& m : mounts)
    if (m.mountpoint == "/dev") dev_sb = m.dev;
  int marked = 0;
  for (const auto& m : mounts) {
    if (skip_fstype(m.fstype)) continue;
    const std::string& mp = m.mountpoint;
    // Nothing runs from a noexec mount. /dev holds device nodes whose reads and writes
    // (/dev/null, /dev/zero, /dev/urandom) are hot, and a mark on any mount of its filesystem
    // (masked paths are binds of /dev/null) makes the kernel check every access to it; a program
    // dropped into /dev is still killed at exec by the BPF side.
    if (m.has_option("noexec")) continue;
    if (!dev_sb.empty() && m.dev == dev_sb) continue;
    std::string rel = mp == "/" ? "." : mp.substr(1);
    // The container has not started: nothing in it can race these lookups.
    if (::fanotify_mark(fan_.get(), FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC_PERM, root.get(),
                        rel.c_str()) != 0) {
      if (errno == ENOENT || errno == EINVAL) continue;  // over-mounted or not markable
      return fail_errno("guard: fanotify mark " + mp + " of container " + c.id);
    }
    ++marked;
  }
  if (marked == 0) return fail("guard: no mount of container " + c.id + " could be marked");
  c.marked = true;
  return {};
}

Result<std::string> ExecGate::sha256_of(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail_errno("stat");
  std::string key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
                    std::to_string(ctime_ns(st)) + ":" + std::to_string(st.st_size);
  if (auto it = hash_cache_.find(key); it != hash_cache_.end()) return it->second;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      EVP_MD_CTX_free(ctx);
      return fail_errno("read");
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf, static_cast<size_t>(n));
    off += n;
  }
  unsigned char md[32];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  if (hash_cache_.size() > 4096) hash_cache_.clear();
  hash_cache_[key] = out;
  return out;
}

ExecGate::Verdict ExecGate::decide(Container& c, int fd, const std::string& path) {
  Verdict v;
  struct stat st;
  if (::fstat(fd, &st) != 0) return v;
  const Spec& s = c.spec;
  if (s.fileless == Mode::enforce) {
    if (st.st_nlink == 0) return {true, "fileless_exec", "blocked", "deleted file", false};
    for (uint32_t d : c.shm_devs)
      if (d == kdev(st.st_dev))
        return {true, "fileless_exec", "blocked", "file on /dev/shm", false};
  }
  if (s.drift == Mode::enforce && ctime_ns(st) >= static_cast<int64_t>(c.created_ns))
    return {true, "drift", "blocked", "changed after the container was created", false};
  if (s.exec_rules == Mode::off) return v;
  std::string hash;
  auto matches = [&](const std::string& rule) {
    if (rule.starts_with("sha256:")) {
      if (hash.empty()) {
        auto h = sha256_of(fd);
        hash = h ? *h : "?";
      }
      return rule.substr(7) == hash;
    }
    return glob_matches(rule, path);
  };
  bool enforce = s.exec_rules == Mode::enforce;
  for (const auto& r : s.exec_deny)
    if (matches(r))
      return {enforce, "exec", enforce ? "blocked" : "audited", "on the exec deny list (" + r + ")",
              false};
  if (!s.exec_allow.empty()) {
    for (const auto& r : s.exec_allow)
      if (matches(r)) {
        v.approve = true;
        return v;
      }
    return {enforce, "exec", enforce ? "blocked" : "audited", "not on the exec allow list", false};
  }
  return v;
}

void ExecGate::handle(Containers& containers, Sink& sink, int approved_map_fd) {
  alignas(fanotify_event_metadata) char buf[8192];
  for (;;) {
    ssize_t n = ::read(fan_.get(), buf, sizeof(buf));
    if (n <= 0) return;  // EAGAIN: drained
    auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (m->vers != FANOTIFY_METADATA_VERSION || m->fd < 0) continue;
      Fd file(m->fd);
      fanotify_response resp{m->fd, FAN_ALLOW};
      if (m->mask & FAN_OPEN_EXEC_PERM) {
        ++decisions_;
        Container* c = containers.of_pid(m->pid);
        Verdict v;
        std::string path;
        if (c) {
          path = read_link("/proc/self/fd/" + std::to_string(m->fd));
          v = decide(*c, m->fd, path);
        }
        if (v.deny) {
          resp.response = FAN_DENY;
          ++denied_;
        }
        if (v.approve && approved_map_fd >= 0) {
          struct stat st;
          if (::fstat(m->fd, &st) == 0) {
            vg_inode_key k{};
            k.cgroup_id = c->cgroup_id;
            k.ino = st.st_ino;
            k.dev = 0;
            k.ctime_sec = st.st_ctim.tv_sec;
            uint32_t one = 1;
            bpf_map_update_elem(approved_map_fd, &k, &one, BPF_ANY);
          }
        }
        if (!v.deny && !containers.any_path_rules())
          ::fanotify_mark(fan_.get(), FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_EXEC_PERM,
                          m->fd, nullptr);
        if (v.rule) {
          ProcInfo p = proc_info(m->pid);
          auto j = base_event(c, c ? c->cgroup_id : 0, v.rule, v.action,
                              "fanotify:FAN_OPEN_EXEC_PERM", p);
          j["exe"] = path;
          j["detail"] = v.detail;
          // Answer first: the exec is waiting.
          (void)!::write(fan_.get(), &resp, sizeof(resp));
          sink.emit(j);
          continue;
        }
      }
      (void)!::write(fan_.get(), &resp, sizeof(resp));
    }
  }
}

}  // namespace veil::guard
