#include "linux/namespaces.hpp"

#include <fcntl.h>
#include "base/strings.hpp"
#include <sched.h>
#include <unistd.h>

#include "base/file.hpp"

namespace veil::namespaces {

Result<std::vector<ToJoin>> open_paths(const std::vector<oci::Namespace>& nss) {
  std::vector<ToJoin> out;
  for (const auto& n : nss) {
    if (n.path.empty()) continue;
    Fd fd(::open(n.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
      return fail_errno(strprintf("open %s namespace %s", oci::ns_type_name(n.type), n.path.c_str()));
    out.push_back(ToJoin{n.type, n.path, std::move(fd)});
  }
  return out;
}

Result<> join(const ToJoin& ns) {
  if (::setns(ns.fd.get(), oci::ns_clone_flag(ns.type)) != 0)
    return fail_errno(strprintf("join %s namespace %s", oci::ns_type_name(ns.type), ns.path.c_str()));
  return {};
}

int new_flags(const std::vector<oci::Namespace>& nss, int except) {
  int flags = 0;
  for (const auto& n : nss)
    if (n.path.empty()) flags |= oci::ns_clone_flag(n.type);
  return flags & ~except;
}

static std::string map_text(const std::vector<oci::IdMapping>& m) {
  std::string s;
  for (const auto& e : m) s += strprintf("%u %u %u\n", e.container_id, e.host_id, e.size);
  return s;
}

Result<> write_id_maps(pid_t pid, const std::vector<oci::IdMapping>& uids,
                       const std::vector<oci::IdMapping>& gids) {
  std::string base = "/proc/" + std::to_string(pid);
  if (!gids.empty()) {
    if (auto r = write_file(base + "/gid_map", map_text(gids)); !r)
      return std::unexpected(r.error().wrap("linux.gidMappings"));
  }
  if (!uids.empty()) {
    if (auto r = write_file(base + "/uid_map", map_text(uids)); !r)
      return std::unexpected(r.error().wrap("linux.uidMappings"));
  }
  return {};
}

Result<> write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets) {
  std::string s;
  for (const auto& [clock, off] : offsets)
    s += strprintf("%s %lld %u\n", clock.c_str(), static_cast<long long>(off.secs), off.nanosecs);
  if (s.empty()) return {};
  if (auto r = write_file("/proc/self/timens_offsets", s); !r)
    return std::unexpected(r.error().wrap("linux.timeOffsets"));
  return {};
}

}  // namespace veil::namespaces
