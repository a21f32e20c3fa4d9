#include "linux/bpf_sys.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace veil::bpf_sys {
namespace {

long sys_bpf(int cmd, union bpf_attr* attr) {
  return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

uint64_t ptr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

}  // namespace

Result<Fd> obj_get(const std::string& path) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.pathname = ptr(path.c_str());
  a.file_flags = 0;
  long fd = sys_bpf(BPF_OBJ_GET, &a);
  if (fd < 0) return fail_errno("open pinned BPF object " + path);
  return Fd(static_cast<int>(fd));
}

Result<> map_update(int map_fd, const void* key, const void* value) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  a.value = ptr(value);
  a.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) != 0) return fail_errno("update BPF map");
  return {};
}

Result<> map_delete(int map_fd, const void* key) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  if (sys_bpf(BPF_MAP_DELETE_ELEM, &a) != 0 && errno != ENOENT)
    return fail_errno("delete from BPF map");
  return {};
}

Result<bool> map_lookup(int map_fd, const void* key, void* value) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  a.value = ptr(value);
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) != 0) {
    if (errno == ENOENT) return false;
    return fail_errno("look up BPF map");
  }
  return true;
}

Result<bool> map_next_key(int map_fd, const void* key, void* next_key) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(map_fd);
  a.key = ptr(key);
  a.next_key = ptr(next_key);
  if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a) != 0) {
    if (errno == ENOENT) return false;
    return fail_errno("iterate BPF map");
  }
  return true;
}

}  // namespace veil::bpf_sys
