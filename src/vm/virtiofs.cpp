#include "vm/virtiofs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "base/unix_address.hpp"

namespace veil::vm {

Result<SharedDir> start_virtiofsd(const std::string& source, const std::string& socket_path,
                                  const std::string& log_path) {
  if (::access(kVirtiofsd, X_OK) != 0)
    return fail_errno(std::string(kVirtiofsd) + " (apt-get install qemu-system-common)");
  Fd dir;
  auto addr = VEIL_TRY(unix_address(socket_path, dir));
  Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return fail_errno("virtiofsd socket");
  ::unlink(socket_path.c_str());
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail_errno("bind " + socket_path);
  if (::listen(listener.get(), 1) != 0) return fail_errno("listen " + socket_path);
  Fd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) return fail_errno("open " + log_path);
  // --rlimit-nofile=0: keep ours (raising it needs CAP_SYS_RESOURCE, which hosts may lack).
  std::vector<std::string> args{
      kVirtiofsd,          "--fd=3",           "-o", "source=" + source, "-o", "cache=auto", "-o",
      "sandbox=namespace", "--rlimit-nofile=0"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork virtiofsd");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int l = ::fcntl(listener.get(), F_DUPFD, 100), g = ::fcntl(log.get(), F_DUPFD, 100);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(g, 1);
    ::dup2(g, 2);
    ::dup2(l, 3);
    ::syscall(SYS_close_range, 4, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  SharedDir d;
  d.pid = pid;
  // Connected before anyone else could: the backlog holds us until virtiofsd accepts.
  d.qemu_end.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!d.qemu_end ||
      ::connect(d.qemu_end.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return fail("connect to virtiofsd at " + socket_path, e);
  }
  ::unlink(socket_path.c_str());
  return d;
}

}  // namespace veil::vm
