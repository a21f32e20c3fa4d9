#include "shim/stdio.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <thread>

#include "vm/frame.hpp"

namespace veil::shim {

Result<Fd> open_output(const std::string& where) {
  if (where.empty()) return Fd();
  if (where.starts_with("binary://"))
    return fail("stdio " + where + ": binary:// loggers are not supported by this shim");
  std::string path = where.starts_with("file://") ? where.substr(7) : where;
  int flags = where.starts_with("file://") ? O_WRONLY | O_APPEND | O_CREAT : O_RDWR;
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK, 0640));
  if (!fd) return fail_errno("open stdio " + path);
  return fd;
}

void write_output(int fd, std::string_view data) {
  // Nobody reading for 2 s: the output is lost rather than the shim stuck.
  (void)vm::write_all(fd, data, 2'000);
}

void pump_stdin(const std::string& path, std::function<void(std::string_view)> on_data,
                std::function<void()> on_eof) {
  std::thread([path, on_data = std::move(on_data), on_eof = std::move(on_eof)] {
    // Blocks until containerd opens the write end (it may never: CloseIO ends the process's
    // stdin then, and this thread stays parked on the fifo harmlessly).
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
      char buf[32768];
      for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        on_data(std::string_view(buf, static_cast<size_t>(n)));
      }
    }
    on_eof();
  }).detach();
}

}  // namespace veil::shim
