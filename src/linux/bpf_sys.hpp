// The few bpf(2) commands the runtime needs to talk to pinned guard maps, as raw syscalls: the
// static `veil` binary does not link libbpf (loading programs is veil-guard's job).
#pragma once

#include <cstddef>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::bpf_sys {

// BPF_OBJ_GET of a pinned object.
Result<Fd> obj_get(const std::string& path);
// BPF_MAP_UPDATE_ELEM with BPF_ANY.
Result<> map_update(int map_fd, const void* key, const void* value);
// BPF_MAP_DELETE_ELEM; a missing key is not an error.
Result<> map_delete(int map_fd, const void* key);
// BPF_MAP_LOOKUP_ELEM; false when the key is absent.
Result<bool> map_lookup(int map_fd, const void* key, void* value);
// BPF_MAP_GET_NEXT_KEY (key null: the first); false after the last key.
Result<bool> map_next_key(int map_fd, const void* key, void* next_key);

}  // namespace veil::bpf_sys
