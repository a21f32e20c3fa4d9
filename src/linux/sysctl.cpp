#include "linux/sysctl.hpp"

#include <algorithm>

#include "base/file.hpp"

namespace veil::sysctl {
namespace {

bool new_ns(const oci::Spec& s, oci::NsType t) {
  // A namespace joined by path is also the container's own (not the host's) for this purpose.
  return s.linux.find(t) != nullptr;
}

}  // namespace

Result<> validate(const oci::Spec& spec) {
  static const char* kIpc[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                               "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                               "kernel.shmmni", "kernel.shm_rmid_forced"};
  for (const auto& [key, value] : spec.linux.sysctl) {
    std::string where = "linux.sysctl[\"" + key + "\"]";
    if (key.find("..") != std::string::npos || key.find('/') != std::string::npos)
      return fail(where + ": invalid sysctl name");
    bool ipc =
        std::any_of(std::begin(kIpc), std::end(kIpc), [&](const char* k) { return key == k; }) ||
        key.starts_with("fs.mqueue.");
    if (ipc) {
      if (!new_ns(spec, oci::NsType::ipc))
        return fail(where + ": needs an IPC namespace (the host's would be changed)");
      continue;
    }
    if (key.starts_with("net.")) {
      if (!new_ns(spec, oci::NsType::network))
        return fail(where + ": needs a network namespace (the host's would be changed)");
      continue;
    }
    if (key == "kernel.hostname" || key == "kernel.domainname") {
      if (!new_ns(spec, oci::NsType::uts))
        return fail(where + ": needs a UTS namespace (the host's would be changed)");
      continue;
    }
    return fail(where + ": not a namespaced sysctl; setting it would change the host");
  }
  return {};
}

Result<> apply(const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    if (auto r = write_file(path, value); !r)
      return std::unexpected(r.error().wrap("sysctl " + key + "=" + value));
  }
  return {};
}

}  // namespace veil::sysctl
