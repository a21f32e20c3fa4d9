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

Result<std::string> dir_node(int dirfd, const std::string& where, int depth);

Result<std::string> node(int dirfd, const std::string& name, const std::string& where, int depth) {
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
    auto inner = VEIL_TRY(dir_node(sub.get(), where, depth + 1));
    return crypto::sha256("dir\0"s + u32(perm) + inner);
  }
  // Devices, fifos, sockets: type and device number only.
  return crypto::sha256("other\0"s + u32(st.st_mode) + u32(static_cast<uint32_t>(st.st_rdev)));
}

// Digest of a directory's entries: concatenation of name "\0" node(entry), sorted by name bytes.
Result<std::string> dir_node(int dirfd, const std::string& where, int depth) {
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
  std::sort(names.begin(), names.end());
  crypto::Sha256 h;
  for (const auto& n : names) {
    auto child = VEIL_TRY(node(dirfd, n, where + "/" + n, depth));
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
  auto inner = VEIL_TRY(dir_node(fd.get(), dir, 0));
  return crypto::sha256("dir\0"s + u32(st.st_mode & 07777) + inner);
}

std::string combine_measurement(std::string_view cfg, std::string_view rootfs) {
  return crypto::sha256("veil-measurement-v1\0"s + std::string(cfg) + std::string(rootfs));
}

Result<std::string> measure_bundle(const std::string& bundle) {
  auto text = VEIL_TRY(read_file(bundle + "/config.json"));
  json cfg = json::parse(text, nullptr, false);
  if (cfg.is_discarded()) return fail(bundle + "/config.json: invalid JSON");
  std::string root = part(cfg, {"root", "path"}).is_string() ? cfg["root"]["path"] : "rootfs";
  if (root.empty() || root[0] != '/') root = bundle + "/" + root;
  auto rootfs = VEIL_TRY(rootfs_digest(root));
  return combine_measurement(config_digest(cfg), rootfs);
}

}  // namespace veil::attest
