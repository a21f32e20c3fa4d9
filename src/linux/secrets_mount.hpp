// Secrets inside a container: a fresh tmpfs at /run/secrets in the container's mount namespace,
// one read-only file per secret. The plaintext arrives in sealed memfds (anonymous memory) and is
// copied straight into the tmpfs, so it never touches a disk; the mount is private to the
// container's namespace and invisible in the host's mount table.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::secrets_mount {

inline constexpr const char* kSecretsDir = "/run/secrets";

struct SecretFile {
  std::string name;  // file name in /run/secrets
  Fd fd;             // sealed memfd with the content
  size_t size = 0;
};

// A file name for /run/secrets: [A-Za-z0-9._-]+, not "." or "..".
bool valid_name(const std::string& name);

// The plaintext in anonymous memory: a memfd sealed against writes, growth and shrinking.
Result<Fd> sealed_memfd(std::string_view data);

// Makes sure <root>/run/secrets exists as a directory, creating /run and /run/secrets with mode
// 0755 when missing (exactly what the measurement assumes, docs/attestation.md); never leaves
// the root (symlinks resolve inside it).
Result<> ensure_mountpoint(int root_fd);

// Runs in the container's mount namespace after the config's mounts, before pivot_root:
// mounts a tmpfs (nosuid, nodev, noexec, private) on <rootfs>/run/secrets, writes each secret as
// a 0400 file owned by uid:gid (ids as the container's user namespace sees them), makes the
// directory 0500 owned by uid:gid, and remounts it read-only. Closes the memfds.
Result<> install(const std::string& rootfs, std::vector<SecretFile>& files, uid_t uid, gid_t gid);

}  // namespace veil::secrets_mount
