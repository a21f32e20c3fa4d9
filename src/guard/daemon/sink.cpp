#include "guard/daemon/sink.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.hpp"

namespace veil::guard {

Result<> AuditLog::open() {
  fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd_) return fail_errno("open audit log " + path_);
  struct stat st;
  size_ = ::fstat(fd_.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return {};
}

Result<> AuditLog::rotate() {
  for (int i = max_files_ - 1; i >= 1; --i) {
    std::string from = path_ + "." + std::to_string(i), to = path_ + "." + std::to_string(i + 1);
    ::rename(from.c_str(), to.c_str());
  }
  if (max_files_ >= 1)
    ::rename(path_.c_str(), (path_ + ".1").c_str());
  else
    ::unlink(path_.c_str());
  ++rotations_;
  return open();
}

Result<> AuditLog::write(const std::string& line) {
  if (!fd_) VEIL_CHECK(open());
  if (size_ > 0 && size_ + line.size() + 1 > max_bytes_) VEIL_CHECK(rotate());
  std::string l = line + "\n";
  const char* p = l.data();
  size_t n = l.size();
  while (n > 0) {
    ssize_t w = ::write(fd_.get(), p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write audit log " + path_);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  size_ += l.size();
  return {};
}

void Subscribers::add(Fd client) {
  int fd = client.get();
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  clients_[fd] = Client{std::move(client), {}, 0};
}

bool Subscribers::write_some(Client& c) {
  while (!c.pending.empty()) {
    ssize_t w = ::send(c.fd.get(), c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return false;  // gone
    }
    c.pending.erase(0, static_cast<size_t>(w));
  }
  return true;
}

void Subscribers::publish(const std::string& line) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    Client& c = it->second;
    if (c.dropped > 0 && c.pending.size() < kMaxPending / 2) {
      nlohmann::json loss = {{"type", "loss"},
                             {"source", "subscriber"},
                             {"count", c.dropped},
                             {"reason", "this client read too slowly"}};
      c.pending += loss.dump() + "\n";
      c.dropped = 0;
    }
    if (c.pending.size() + line.size() + 1 > kMaxPending) {
      ++c.dropped;
      ++dropped_total_;
    } else {
      c.pending += line;
      c.pending += '\n';
    }
    if (!write_some(c))
      it = clients_.erase(it);
    else
      ++it;
  }
}

void Subscribers::flush() {
  for (auto it = clients_.begin(); it != clients_.end();) {
    // Detect closed clients even when nothing is pending.
    char b;
    ssize_t r = ::recv(it->second.fd.get(), &b, 1, MSG_DONTWAIT | MSG_PEEK);
    bool closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    if (closed || !write_some(it->second))
      it = clients_.erase(it);
    else
      ++it;
  }
}

void Sink::emit(const nlohmann::json& record) {
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  ++emitted_;
  if (auto r = log_.write(line); !r) {
    if (log_errors_++ == 0) log::error("guard: " + r.error().str());
  }
  subs_.publish(line);
}

}  // namespace veil::guard
