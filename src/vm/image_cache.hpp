// Rootfs images by what the tree holds: building an EROFS image costs time in proportion to the
// rootfs (milliseconds for busybox, seconds for a large image), and containers of one image
// (containerd's snapshots of the same layers, a bundle started again) have the same tree. An
// image is kept under a key listing every entry's path, type, mode, owner, size, mtime, ctime,
// and link target: a change to any file changes its ctime, which user space cannot
// set back, so a changed tree never meets an old image. The whole listing is stored with the image
// and compared byte for byte (the file name is only a fast hash), so a hash collision is a miss,
// not a wrong image.
//
// The cache is $VEIL_VM_IMAGES or /dev/shm/veil-vm/images (0700), at most
// $VEIL_VM_IMAGE_CACHE_MIB (default 1024) of allocated space: the least recently used entries
// that no sandbox holds go first.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::vm {

// The tree's listing (the cache key) and the bytes of its regular files (what an image holds at
// least), walked without following links.
struct TreeListing {
  std::string key;
  off_t bytes = 0;
};
Result<TreeListing> list_tree(const std::string& root);

// The image for this listing: a cached one, or one `build(path)` writes now (then cached),
// with a shared lock on it that keeps eviction away while held (for the sandbox's life).
struct CachedImage {
  std::string path;
  Fd lock;
};
Result<CachedImage> cached_image(const TreeListing& tree,
                                 const std::function<Result<>(const std::string&)>& build);

}  // namespace veil::vm
