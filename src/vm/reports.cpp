#include "vm/reports.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace veil::vm {

using nlohmann::json;

namespace {
json object_of(std::string_view payload) {
  auto j = json::parse(payload, nullptr, false);
  return j.is_object() ? j : json::object();
}
}  // namespace

int exit_wait_status(std::string_view payload) {
  json j = object_of(payload);
  constexpr int kFailed = 255 << 8;
  if (j.contains("signal")) {
    const auto& s = j["signal"];
    if (!s.is_number_integer()) return kFailed;
    int64_t sig = s.get<int64_t>();
    if (sig < 1 || sig > 64 || sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
        sig == SIGTTOU || sig == SIGCONT || sig == SIGCHLD || sig == SIGWINCH || sig == SIGURG)
      return kFailed;
    return static_cast<int>(sig);
  }
  if (j.contains("status")) {
    const auto& s = j["status"];
    if (!s.is_number_integer()) return kFailed;
    int64_t code = s.get<int64_t>();
    if (code < 0 || code > 255) return kFailed;
    return static_cast<int>(code) << 8;
  }
  return kFailed;
}

std::string error_message(std::string_view payload) {
  json j = object_of(payload);
  std::string m = j.contains("message") && j["message"].is_string()
                      ? j["message"].get<std::string>()
                      : std::string(payload);
  if (m.size() > 4096) m.resize(4096);
  for (char& c : m)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) c = '?';
  return m;
}

std::optional<int> reported_pid(std::string_view payload) {
  json j = object_of(payload);
  if (!j.contains("pid") || !j["pid"].is_number_integer()) return std::nullopt;
  int64_t pid = j["pid"].get<int64_t>();
  if (pid <= 0 || pid > (1 << 22)) return std::nullopt;
  return static_cast<int>(pid);
}

}  // namespace veil::vm
