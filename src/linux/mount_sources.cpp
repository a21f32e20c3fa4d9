#include "linux/mount_sources.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include "linux/mount_options.hpp"

namespace veil::mount_sources {

bool is_bind(const oci::Mount& m) {
  if (m.type == "bind") return true;
  auto o = mounts::parse_mount_options(m.options);
  return o && o->is_bind();
}

Result<std::vector<Fd>> open_in(pid_t pid, const std::vector<oci::Mount>& mounts) {
  Fd own(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  Fd cwd(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  Fd theirs(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  if (!own || !cwd || !theirs) return fail_errno("mount sources: open mount namespaces");
  if (::setns(theirs.get(), CLONE_NEWNS) != 0)
    return fail_errno("mount sources: enter the container's mount namespace");
  std::vector<Fd> out;
  Error failed;
  for (const auto& m : mounts) {
    if (!is_bind(m)) {
      out.emplace_back();
      continue;
    }
    Fd fd(::open(m.source.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) {
      failed = Error{"mount " + m.destination + ": open source " + m.source, errno};
      break;
    }
    out.push_back(std::move(fd));
  }
  // Back home, whatever happened (a process left in the container's namespace must not go on).
  if (::setns(own.get(), CLONE_NEWNS) != 0 || ::fchdir(cwd.get()) != 0) {
    ::perror("veil: mount sources: return to the runtime's mount namespace");
    ::_exit(1);
  }
  if (!failed.msg.empty()) return std::unexpected(failed);
  return out;
}

Result<> attach(int fd, const std::string& target, bool recursive, const std::string& what) {
  std::string src = "/proc/self/fd/" + std::to_string(fd);
  if (::mount(src.c_str(), target.c_str(), nullptr, MS_BIND | (recursive ? MS_REC : 0), nullptr))
    return fail_errno("bind-mount " + what);
  return {};
}

}  // namespace veil::mount_sources
