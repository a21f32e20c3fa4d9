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

void pump_stdin(const std::string& path, std::shared_ptr<std::atomic<bool>> done,
                std::shared_ptr<std::atomic<bool>> closing,
                std::function<void(std::string_view)> on_data, std::function<void()> on_eof) {
  std::thread([path, done = std::move(done), closing = std::move(closing),
               on_data = std::move(on_data), on_eof = std::move(on_eof)] {
    // Non-blocking: the open never waits for a writer. Until one has come and gone, poll shows
    // nothing (no POLLHUP for a fifo that never had a writer), so EOF is POLLHUP or a read of 0
    // after POLLIN; the process's exit ends the wait otherwise.
    Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return on_eof();
    char buf[32768];
    while (!*done) {
      bool last = *closing;  // after CloseIO: one more look at the fifo, then the end
      pollfd p{fd.get(), POLLIN, 0};
      int r = ::poll(&p, 1, last ? 0 : 100);
      if (r <= 0) {
        if (last) break;
        continue;
      }
      if (p.revents & POLLIN) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        on_data(std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      if (p.revents & (POLLHUP | POLLERR)) break;
    }
    if (!*done) on_eof();
  }).detach();
}

}  // namespace veil::shim
