#include "vm/frame.hpp"

#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/strings.hpp"
#include "base/time.hpp"

namespace veil::vm {

const char* frame_type_name(FrameType t) {
  switch (t) {
    case FrameType::ready:
      return "ready";
    case FrameType::hello:
      return "hello";
    case FrameType::hello_ack:
      return "hello_ack";
    case FrameType::create:
      return "create";
    case FrameType::created:
      return "created";
    case FrameType::start:
      return "start";
    case FrameType::exec:
      return "exec";
    case FrameType::started:
      return "started";
    case FrameType::stdin_data:
      return "stdin_data";
    case FrameType::stdin_close:
      return "stdin_close";
    case FrameType::stdout_data:
      return "stdout_data";
    case FrameType::stderr_data:
      return "stderr_data";
    case FrameType::signal:
      return "signal";
    case FrameType::exit:
      return "exit";
    case FrameType::error:
      return "error";
    case FrameType::update:
      return "update";
    case FrameType::updated:
      return "updated";
    case FrameType::resize:
      return "resize";
    case FrameType::event:
      return "event";
    case FrameType::stats:
      return "stats";
    case FrameType::pause:
      return "pause";
    case FrameType::resume:
      return "resume";
    case FrameType::pids:
      return "pids";
    case FrameType::reply:
      return "reply";
  }
  return "unknown";
}

namespace {
void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}
uint32_t get_u32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}
constexpr size_t kHeader = 4 + 1 + 4;
}  // namespace

std::string encode_frame(FrameType type, uint32_t proc, std::string_view payload) {
  std::string s;
  s.reserve(kHeader + payload.size());
  put_u32(s, static_cast<uint32_t>(payload.size() + 5));
  s.push_back(static_cast<char>(type));
  put_u32(s, proc);
  s.append(payload);
  return s;
}

Result<std::optional<Frame>> FrameReader::next() {
  if (buf_.size() < 4) return std::nullopt;
  uint32_t len = get_u32(buf_.data());
  if (len < 5 || len - 5 > kMaxFrame)
    return fail(strprintf("control channel: bad frame length %u", len));
  if (buf_.size() < 4 + size_t{len}) return std::nullopt;
  uint8_t type = static_cast<uint8_t>(buf_[4]);
  if (type < static_cast<uint8_t>(FrameType::ready) ||
      type > static_cast<uint8_t>(FrameType::reply))
    return fail(strprintf("control channel: unknown frame type %u", type));
  Frame f;
  f.type = static_cast<FrameType>(type);
  f.proc = get_u32(buf_.data() + 5);
  f.payload = buf_.substr(kHeader, len - 5);
  buf_.erase(0, 4 + size_t{len});
  return f;
}

Result<> write_all(int fd, std::string_view data, int timeout_ms) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return fail_errno("control channel: write");
    int left = static_cast<int>(deadline - monotonic_ms());
    if (left <= 0)
      return fail(strprintf("control channel: write timed out after %d ms", timeout_ms));
    struct pollfd p {
      fd, POLLOUT, 0
    };
    ::poll(&p, 1, left);
  }
  return {};
}

Result<Frame> wait_frame(int fd, FrameReader& reader, FrameType want, uint32_t proc, int timeout_ms,
                         const std::string& what, std::deque<Frame>* others) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    for (;;) {
      auto f = VEIL_TRY(reader.next());
      if (!f) break;
      if (f->type == FrameType::error) {
        auto j = nlohmann::json::parse(f->payload, nullptr, false);
        std::string msg = j.is_object() && j.contains("message") && j["message"].is_string()
                              ? j["message"].get<std::string>()
                              : f->payload;
        return fail(what + ": " + msg);
      }
      if (f->type == want && f->proc == proc) return std::move(*f);
      if (others) others->push_back(std::move(*f));
    }
    int left = static_cast<int>(deadline - monotonic_ms());
    if (left <= 0) return fail(strprintf("%s: no answer within %d ms", what.c_str(), timeout_ms));
    struct pollfd p {
      fd, POLLIN, 0
    };
    int r = ::poll(&p, 1, left);
    if (r < 0 && errno != EINTR) return fail_errno(what + ": poll");
    if (r <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return fail(what + ": the other side closed the control channel");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail_errno(what + ": read");
    }
    reader.feed(buf, static_cast<size_t>(n));
  }
}

}  // namespace veil::vm
