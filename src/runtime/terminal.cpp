#include "runtime/terminal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "base/packet.hpp"
#include "base/unix_address.hpp"

namespace veil::runtime {

Result<Fd> setup_terminal(const std::optional<oci::ConsoleSize>& size, uid_t uid) {
  Fd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) return fail_errno("open /dev/ptmx (process.terminal needs a devpts mount)");
  int unlock = 0;
  if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) return fail_errno("unlock pty");
  Fd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY));
  if (!slave) return fail_errno("open pty slave");
  // The process's uid; the group stays what devpts gave it (gid=5, tty, in the usual mount), as
  // with runc: programs such as write(1) and script(1) expect the tty group.
  if (::fchown(slave.get(), uid, static_cast<gid_t>(-1)) != 0 && errno != EPERM && errno != EINVAL)
    return fail_errno("chown pty");
  if (size) {
    struct winsize ws {};
    ws.ws_row = static_cast<unsigned short>(size->height);
    ws.ws_col = static_cast<unsigned short>(size->width);
    if (::ioctl(slave.get(), TIOCSWINSZ, &ws) != 0) return fail_errno("process.consoleSize");
  }
  if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0) return fail_errno("set controlling terminal");
  for (int fd = 0; fd <= 2; ++fd)
    if (::dup2(slave.get(), fd) < 0) return fail_errno("dup pty onto stdio");
  return master;
}

Result<> send_to_console_socket(const std::string& path, int master) {
  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return fail_errno("--console-socket: socket");
  Fd dir;
  auto a = unix_address(path, dir);
  if (!a) return std::unexpected(a.error().wrap("--console-socket"));
  sockaddr_un addr = *a;
  if (::connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0)
    return fail_errno("--console-socket: connect " + path);
  char name[128] = "/dev/ptmx";
  if (int n = -1; ::ioctl(master, TIOCGPTN, &n) == 0) snprintf(name, sizeof name, "/dev/pts/%d", n);
  if (auto r = send_packet(sock.get(), name, master); !r)
    return std::unexpected(r.error().wrap("--console-socket: send the pty to " + path));
  return {};
}

namespace {

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void copy_winsize(int from, int to) {
  struct winsize ws {};
  if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}

}  // namespace

int relay_and_wait(int master, pid_t child, const sigset_t& fwd) {
  struct termios saved {};
  bool raw = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    ::cfmakeraw(&t);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
    copy_winsize(STDIN_FILENO, master);
  }
  int sfd = ::signalfd(-1, &fwd, SFD_CLOEXEC);
  bool stdin_open = true, master_open = true;
  int code = 255;
  bool exited = false;
  while (!exited || master_open) {
    struct pollfd p[3] = {{sfd, POLLIN, 0},
                          {stdin_open ? STDIN_FILENO : -1, POLLIN, 0},
                          {master_open ? master : -1, POLLIN, 0}};
    if (::poll(p, 3, exited ? 100 : -1) <= 0) {
      if (exited) break;  // nothing more to drain
      continue;
    }
    char buf[8192];
    if (p[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        // End of input: send the terminal's EOF character, as a person pressing ^D would.
        (void)!::write(master, "\x04", 1);
      } else {
        write_all(master, buf, static_cast<size_t>(n));
      }
    }
    if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0)
        master_open = false;  // EIO once every slave fd is closed
      else
        write_all(STDOUT_FILENO, buf, static_cast<size_t>(n));
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (::read(sfd, &si, sizeof si) != sizeof si) continue;
      int sig = static_cast<int>(si.ssi_signo);
      if (sig == SIGWINCH) {
        copy_winsize(STDIN_FILENO, master);
      } else if (sig != SIGCHLD) {
        ::kill(child, sig);
      } else {
        int status = 0;
        for (;;) {
          pid_t w = ::waitpid(-1, &status, WNOHANG);
          if (w <= 0) break;
          if (w == child) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            exited = true;
          }
        }
      }
    }
  }
  if (raw) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  ::close(sfd);
  return code;
}

}  // namespace veil::runtime
