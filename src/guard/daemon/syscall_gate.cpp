#include "guard/daemon/syscall_gate.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "guard/daemon/event_format.hpp"

namespace veil::guard {
namespace {

struct Sizes {
  seccomp_notif_sizes s{};
  Sizes() {
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0) {
      s.seccomp_notif = sizeof(seccomp_notif);
      s.seccomp_notif_resp = sizeof(seccomp_notif_resp);
    }
  }
};

std::string prot_string(uint64_t prot) {
  std::string s;
  if (prot & PROT_READ) s += "R";
  if (prot & PROT_WRITE) s += "W";
  if (prot & PROT_EXEC) s += "X";
  return s.empty() ? "NONE" : s;
}

}  // namespace

bool SyscallGate::handle(int fd, Container* c, Sink& sink) {
  static const Sizes sizes;
  std::vector<char> req_buf(std::max<size_t>(sizes.s.seccomp_notif, sizeof(seccomp_notif)));
  std::vector<char> resp_buf(
      std::max<size_t>(sizes.s.seccomp_notif_resp, sizeof(seccomp_notif_resp)));
  auto* req = reinterpret_cast<seccomp_notif*>(req_buf.data());
  auto* resp = reinterpret_cast<seccomp_notif_resp*>(resp_buf.data());
  std::memset(req_buf.data(), 0, req_buf.size());
  if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
    // ENOENT: the caller was interrupted before we read it. Anything else: the fd is dead.
    return errno == ENOENT || errno == EINTR;
  }
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, req->data.nr);
  std::string sys = name ? name : std::to_string(req->data.nr);
  free(name);
  bool wx = sys == "mmap" || sys == "mprotect" || sys == "pkey_mprotect";
  Mode mode = c ? (wx ? c->spec.wx_memory : c->spec.sensitive_syscalls) : Mode::enforce;
  ProcInfo p = proc_info(static_cast<pid_t>(req->pid));
  // The /proc reads above must describe the process that made this call (it could have died and
  // its pid been reused): the notification id must still be valid.
  bool valid = ::ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) == 0;

  std::memset(resp_buf.data(), 0, resp_buf.size());
  resp->id = req->id;
  bool enforce = mode != Mode::audit;
  if (enforce) {
    resp->error = wx ? -EACCES : -EPERM;
  } else {
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  }
  if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp) == 0 || errno == ENOENT) ++answered_;
  if (!valid) return true;
  auto j = base_event(c, c ? c->cgroup_id : 0, wx ? "wx_memory" : "sensitive_syscalls",
                      enforce ? "blocked" : "audited", "seccomp:user_notif", p);
  j["syscall"] = sys;
  if (wx) j["detail"] = "prot " + prot_string(req->data.args[2]);
  sink.emit(j);
  return true;
}

}  // namespace veil::guard
