#include "linux/signals.hpp"

#include <signal.h>
#include <strings.h>

#include <charconv>
#include <string>

namespace veil::linux_signals {
namespace {

struct Sig {
  const char* name;
  int num;
};
constexpr Sig kSignals[] = {
    {"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},     {"SIGILL", SIGILL},
    {"SIGTRAP", SIGTRAP},     {"SIGABRT", SIGABRT}, {"SIGIOT", SIGIOT},       {"SIGBUS", SIGBUS},
    {"SIGFPE", SIGFPE},       {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV},
    {"SIGUSR2", SIGUSR2},     {"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM},     {"SIGTERM", SIGTERM},
    {"SIGSTKFLT", SIGSTKFLT}, {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},     {"SIGSTOP", SIGSTOP},
    {"SIGTSTP", SIGTSTP},     {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU},     {"SIGURG", SIGURG},
    {"SIGXCPU", SIGXCPU},     {"SIGXFSZ", SIGXFSZ}, {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF},
    {"SIGWINCH", SIGWINCH},   {"SIGIO", SIGIO},     {"SIGPOLL", SIGPOLL},     {"SIGPWR", SIGPWR},
    {"SIGSYS", SIGSYS},
};

}  // namespace

Result<int> parse_signal(std::string_view s) {
  if (s.empty()) return fail("empty signal");
  int num = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), num);
  if (ec == std::errc() && ptr == s.data() + s.size()) {
    // 0 is the liveness check (`kill ID 0`), as with kill(2) and runc.
    if (num < 0 || num > SIGRTMAX) return fail("invalid signal number " + std::string(s));
    return num;
  }
  std::string name(s);
  if (name.size() < 3 || strncasecmp(name.c_str(), "SIG", 3) != 0) name = "SIG" + name;
  for (const auto& sig : kSignals)
    if (strcasecmp(sig.name, name.c_str()) == 0) return sig.num;
  // SIGRTMIN+n / SIGRTMAX-n
  if (strncasecmp(name.c_str(), "SIGRTMIN", 8) == 0 ||
      strncasecmp(name.c_str(), "SIGRTMAX", 8) == 0) {
    bool min = strncasecmp(name.c_str(), "SIGRTMIN", 8) == 0;
    int off = 0;
    std::string rest = name.substr(8);
    if (!rest.empty()) {
      if (rest[0] != (min ? '+' : '-')) return fail("unknown signal \"" + std::string(s) + "\"");
      auto r = std::from_chars(rest.data() + 1, rest.data() + rest.size(), off);
      if (r.ec != std::errc() || r.ptr != rest.data() + rest.size())
        return fail("unknown signal \"" + std::string(s) + "\"");
    }
    // Checked before adding: a huge offset must not overflow into a valid number.
    if (off < 0 || off > SIGRTMAX - SIGRTMIN)
      return fail("unknown signal \"" + std::string(s) + "\"");
    return min ? SIGRTMIN + off : SIGRTMAX - off;
  }
  return fail("unknown signal \"" + std::string(s) + "\"");
}

const char* signal_name(int sig) {
  for (const auto& s : kSignals)
    if (s.num == sig) return s.name;
  return nullptr;
}

}  // namespace veil::linux_signals
