#include "vm/image_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::vm {
namespace {

std::string cache_root() {
  const char* e = ::getenv("VEIL_VM_IMAGES");
  return e && *e ? e : "/dev/shm/veil-vm/images";
}

off_t cache_cap() {
  const char* e = ::getenv("VEIL_VM_IMAGE_CACHE_MIB");
  long mib = e && *e ? std::atol(e) : 1024;
  return off_t{std::max(0L, mib)} << 20;
}

// Two independent 64-bit FNV-1a hashes: a file name, not a proof (the listing is compared).
std::string name_for(const std::string& key) {
  uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL ^ 0x9e3779b97f4a7c15ULL;
  for (unsigned char c : key) {
    a = (a ^ c) * 1099511628211ULL;
    b = (b ^ (c + 0x5bU)) * 0x100000001b3ULL;
  }
  return strprintf("%016llx%016llx", static_cast<unsigned long long>(a),
                   static_cast<unsigned long long>(b));
}

thread_local std::string* g_listing;
thread_local off_t g_bytes;
thread_local size_t g_prefix;

int add_entry(const char* path, const struct stat* st, int type, struct FTW*) {
  std::string& out = *g_listing;
  std::string rel = path + std::min(g_prefix, std::strlen(path));
  out += rel;
  // The root itself is left out: an overlay's root is its fresh upper directory (containerd makes
  // one per container), whatever the layers below hold.
  if (rel.empty()) return 0;
  // No inode or device: they differ for every mount of the same layers (containerd's snapshots)
  // and would make every container a miss; ctime already changes with any write.
  out += strprintf("\t%o\t%u\t%u\t%lld\t%lld.%09ld\t%lld.%09ld", st->st_mode, st->st_uid,
                   st->st_gid, static_cast<long long>(st->st_size),
                   static_cast<long long>(st->st_mtim.tv_sec), st->st_mtim.tv_nsec,
                   static_cast<long long>(st->st_ctim.tv_sec), st->st_ctim.tv_nsec);
  if (type == FTW_SL) out += "\t" + read_link(path);
  out += '\n';
  if (type == FTW_F && S_ISREG(st->st_mode)) g_bytes += st->st_size;
  return 0;
}

// A shared lock on an entry's image, held by each sandbox using it for its life: eviction takes
// the exclusive one without waiting and skips what it cannot get. Bounded: the exclusive holder
// only removes the entry. Fails when the entry is gone (or replaced) by the time it is locked.
Result<Fd> lock_image(const std::string& img) {
  Fd f(::open(img.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) return fail_errno("open " + img);
  for (int i = 0; ::flock(f.get(), LOCK_SH | LOCK_NB) != 0; ++i) {
    if (errno != EWOULDBLOCK || i >= 200) return fail_errno("lock " + img);
    ::usleep(10'000);
  }
  struct stat held, now;
  if (::fstat(f.get(), &held) != 0 || ::stat(img.c_str(), &now) != 0 || held.st_ino != now.st_ino)
    return fail("the cached image " + img + " went away");
  return f;
}

// Removes the least recently used entries no sandbox holds until the cache fits its cap, and
// what a create killed half-way through building left behind.
void evict(const std::string& root) {
  struct Entry {
    std::string dir;
    off_t blocks;
    time_t used;
  };
  std::vector<Entry> entries;
  off_t total = 0;
  if (DIR* d = ::opendir(root.c_str())) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string name = e->d_name, dir = root + "/" + name;
      if (auto t = name.find(".tmp."); t != std::string::npos) {  // being built, or abandoned
        pid_t pid = std::atoi(name.c_str() + t + 5);
        if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) (void)remove_all(dir);
        continue;
      }
      struct stat st;
      if (::stat((dir + "/rootfs.img").c_str(), &st) != 0) continue;
      off_t b = static_cast<off_t>(st.st_blocks) * 512;
      total += b;
      entries.push_back({dir, b, st.st_mtime});
    }
    ::closedir(d);
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& x, const Entry& y) { return x.used < y.used; });
  for (const auto& e : entries) {
    if (total <= cache_cap()) break;
    Fd f(::open((e.dir + "/rootfs.img").c_str(), O_RDONLY | O_CLOEXEC));
    if (!f || ::flock(f.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    (void)remove_all(e.dir);
    total -= e.blocks;
  }
}

}  // namespace

Result<TreeListing> list_tree(const std::string& root) {
  TreeListing t;
  g_listing = &t.key;
  g_bytes = 0;
  g_prefix = root.size();
  if (::nftw(root.c_str(), add_entry, 64, FTW_PHYS) != 0) return fail_errno("walk " + root);
  t.bytes = g_bytes;
  return t;
}

Result<CachedImage> cached_image(const TreeListing& tree,
                                 const std::function<Result<>(const std::string&)>& build) {
  std::string root = cache_root();
  VEIL_CHECK(mkdir_all(root, 0700));
  std::string dir = root + "/" + name_for(tree.key), img = dir + "/rootfs.img";
  auto hit = [&]() -> std::optional<CachedImage> {
    auto k = read_file(dir + "/key");
    if (!k || *k != tree.key) return std::nullopt;
    auto lock = lock_image(img);
    if (!lock) return std::nullopt;
    (void)::utimensat(AT_FDCWD, img.c_str(), nullptr, 0);  // recently used
    return CachedImage{img, std::move(*lock)};
  };
  if (auto h = hit()) return std::move(*h);
  // Built beside it and renamed into place: a reader never sees half an image. Locked from the
  // start (the lock goes with the file through the rename): no eviction takes it from us.
  std::string tmp = dir + ".tmp." + std::to_string(::getpid());
  (void)remove_all(tmp);
  VEIL_CHECK(mkdir_all(tmp, 0700));
  Fd lock;
  auto made = [&]() -> Result<> {
    VEIL_CHECK(build(tmp + "/rootfs.img"));
    VEIL_CHECK(write_file_atomic(tmp + "/key", tree.key, 0600));
    lock = VEIL_TRY(lock_image(tmp + "/rootfs.img"));
    return {};
  }();
  if (!made) {
    (void)remove_all(tmp);
    return std::unexpected(made.error());
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    // Another create cached the same tree meanwhile, or an entry of another tree has this name
    // (its listing differs): use the first, replace the second.
    if (auto h = hit()) {
      (void)remove_all(tmp);
      return std::move(*h);
    }
    (void)remove_all(dir);
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
      int e = errno;
      (void)remove_all(tmp);
      return fail("cache the rootfs image in " + dir, e);
    }
  }
  evict(root);
  return CachedImage{img, std::move(lock)};
}

}  // namespace veil::vm
