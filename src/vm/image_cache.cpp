#include "vm/image_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

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
  out += strprintf(
      "\t%o\t%u\t%u\t%lld\t%lld.%09ld\t%lld.%09ld\t%llu\t%llu", st->st_mode, st->st_uid, st->st_gid,
      static_cast<long long>(st->st_size), static_cast<long long>(st->st_mtim.tv_sec),
      st->st_mtim.tv_nsec, static_cast<long long>(st->st_ctim.tv_sec), st->st_ctim.tv_nsec,
      static_cast<unsigned long long>(st->st_ino), static_cast<unsigned long long>(st->st_dev));
  if (type == FTW_SL) out += "\t" + read_link(path);
  out += '\n';
  if (type == FTW_F && S_ISREG(st->st_mode)) g_bytes += st->st_size;
  return 0;
}

// Removes the least recently used entries until the cache fits its cap (keep: just used).
void evict(const std::string& root, const std::string& keep) {
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
      std::string dir = root + "/" + e->d_name;
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
    if (e.dir == keep) continue;
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

Result<std::string> cached_image(const TreeListing& tree,
                                 const std::function<Result<>(const std::string&)>& build) {
  std::string root = cache_root();
  VEIL_CHECK(mkdir_all(root, 0700));
  std::string dir = root + "/" + name_for(tree.key), img = dir + "/rootfs.img";
  if (auto k = read_file(dir + "/key"); k && *k == tree.key && path_exists(img)) {
    (void)::utimensat(AT_FDCWD, img.c_str(), nullptr, 0);  // recently used
    return img;
  }
  // Built beside it and renamed into place: a reader never sees half an image.
  std::string tmp = dir + ".tmp." + std::to_string(::getpid());
  (void)remove_all(tmp);
  VEIL_CHECK(mkdir_all(tmp, 0700));
  auto made = [&]() -> Result<> {
    VEIL_CHECK(build(tmp + "/rootfs.img"));
    VEIL_CHECK(write_file_atomic(tmp + "/key", tree.key, 0600));
    return {};
  }();
  if (!made) {
    (void)remove_all(tmp);
    return std::unexpected(made.error());
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    // Another create cached the same tree meanwhile, or an entry of another tree has this name
    // (its listing differs): use the first, replace the second.
    if (auto k = read_file(dir + "/key"); k && *k == tree.key && path_exists(img)) {
      (void)remove_all(tmp);
      return img;
    }
    (void)remove_all(dir);
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
      int e = errno;
      (void)remove_all(tmp);
      return fail("cache the rootfs image in " + dir, e);
    }
  }
  evict(root, dir);
  return img;
}

}  // namespace veil::vm
