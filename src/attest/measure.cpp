#include "attest/measure.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "attest/crypto.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"

using namespace std::string_literals;

namespace veil::attest {

namespace {

json part(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return *cur;
}

std::string u32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; i++) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

Result<std::string> file_hash(int dirfd, const char* name) {
  Fd fd(openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(std::string("open ") + name);
  crypto::Sha256 h;
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0) return fail_errno(std::string("read ") + name);
    if (n == 0) break;
    h.update(std::string_view(buf.data(), n));
  }
  return h.final();
}

// Where a directory sits relative to the secrets mount point /run/secrets (see
// docs/attestation.md).
enum class Place { other, root, run };

Result<std::string> dir_node(int dirfd, const std::string& where, int depth, Place place);

std::string dir_digest(uint32_t perm, std::string_view entries) {
  return crypto::sha256("dir\0"s + u32(perm) + std::string(entries));
}

// The secrets mount point as measured: always an empty directory with mode 0755, whatever is
// there (veil mounts a tmpfs over it, so its content is never what the sandbox sees).
std::string virtual_secrets_dir() {
  return dir_digest(0755, crypto::sha256(""));
}

// /run as measured when the rootfs has none: a 0755 directory holding only the mount point.
std::string virtual_run_dir() {
  crypto::Sha256 h;
  h.update(kSecretsDirName);
  h.update(std::string_view("\0", 1));
  h.update(virtual_secrets_dir());
  return dir_digest(0755, h.final());
}

Result<std::string> node(int dirfd, const std::string& name, const std::string& where, int depth,
                         Place parent) {
  if (parent == Place::run && name == kSecretsDirName) return virtual_secrets_dir();
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
    return fail_errno("stat " + where);
  uint32_t perm = st.st_mode & 07777;
  if (S_ISREG(st.st_mode)) {
    auto content = VEIL_TRY(file_hash(dirfd, name.c_str()));
    return crypto::sha256("file\0"s + u32(perm) + content);
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(PATH_MAX, '\0');
    ssize_t n = readlinkat(dirfd, name.c_str(), target.data(), target.size());
    if (n < 0) return fail_errno("readlink " + where);
    target.resize(n);
    return crypto::sha256("link\0"s + target);
  }
  if (S_ISDIR(st.st_mode)) {
    Fd sub(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return fail_errno("open " + where);
    Place place = parent == Place::root && name == kRunDirName ? Place::run : Place::other;
    auto inner = VEIL_TRY(dir_node(sub.get(), where, depth + 1, place));
    return dir_digest(perm, inner);
  }
  // Devices, fifos, sockets: type and device number only.
  return crypto::sha256("other\0"s + u32(st.st_mode) + u32(static_cast<uint32_t>(st.st_rdev)));
}

// Digest of a directory's entries: concatenation of name "\0" node(entry), sorted by name bytes.
Result<std::string> dir_node(int dirfd, const std::string& where, int depth, Place place) {
  if (depth > 256) return fail(where + ": directory tree too deep");
  int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : fdopendir(dup);
  if (!d) return fail_errno("opendir " + where);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  // The secrets mount point counts as present whether or not it exists yet (veil creates it).
  const char* implied = place == Place::root  ? kRunDirName
                        : place == Place::run ? kSecretsDirName
                                              : nullptr;
  bool add_virtual = implied && std::find(names.begin(), names.end(), implied) == names.end();
  if (add_virtual) names.push_back(implied);
  std::sort(names.begin(), names.end());
  crypto::Sha256 h;
  for (const auto& n : names) {
    std::string child;
    if (add_virtual && n == implied) {
      child = place == Place::root ? virtual_run_dir() : virtual_secrets_dir();
    } else {
      child = VEIL_TRY(node(dirfd, n, where + "/" + n, depth, place));
    }
    h.update(n);
    h.update(std::string_view("\0", 1));
    h.update(child);
  }
  return h.final();
}

}  // namespace

std::string config_digest(const json& c) {
  json process = part(c, {"process"});
  if (process.is_object()) {
    process.erase("terminal");
    process.erase("consoleSize");
  }
  json parts = {{"process", process},
                {"mounts", part(c, {"mounts"})},
                {"namespaces", part(c, {"linux", "namespaces"})},
                {"root_readonly", part(c, {"root", "readonly"})}};
  return crypto::sha256(canonical(parts));
}

Result<std::string> rootfs_digest(const std::string& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_errno("open rootfs " + dir);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return fail_errno("stat " + dir);
  auto inner = VEIL_TRY(dir_node(fd.get(), dir, 0, Place::root));
  return dir_digest(st.st_mode & 07777, inner);
}

std::string combine_measurement(std::string_view cfg, std::string_view rootfs) {
  return crypto::sha256("veil-measurement-v1\0"s + std::string(cfg) + std::string(rootfs));
}

Result<std::string> measure_config(const json& cfg, const std::string& bundle) {
  if (!cfg.is_object()) return fail(bundle + "/config.json: not a JSON object");
  std::string root = part(cfg, {"root", "path"}).is_string() ? cfg["root"]["path"] : "rootfs";
  if (root.empty() || root[0] != '/') root = bundle + "/" + root;
  auto rootfs = VEIL_TRY(rootfs_digest(root));
  return combine_measurement(config_digest(cfg), rootfs);
}

Result<std::string> measure_bundle(const std::string& bundle) {
  auto text = VEIL_TRY(read_file(bundle + "/config.json"));
  json cfg = json::parse(text, nullptr, false);
  if (cfg.is_discarded()) return fail(bundle + "/config.json: invalid JSON");
  return measure_config(cfg, bundle);
}

}  // namespace veil::attest
