#include "linux/seccomp.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "linux/proc.hpp"
#include "oci/json_path.hpp"

namespace veil::seccomp {

using nlohmann::json;
using oci::json_quote;
using oci::JsonAt;

CompiledFilter::CompiledFilter(CompiledFilter&& o) noexcept
    : listener_path(std::move(o.listener_path)),
      listener_metadata(std::move(o.listener_metadata)),
      skipped_syscalls(std::move(o.skipped_syscalls)),
      ctx_(std::exchange(o.ctx_, nullptr)),
      uses_notify_(o.uses_notify_) {}

CompiledFilter& CompiledFilter::operator=(CompiledFilter&& o) noexcept {
  if (this != &o) {
    if (ctx_) seccomp_release(static_cast<scmp_filter_ctx>(ctx_));
    ctx_ = std::exchange(o.ctx_, nullptr);
    uses_notify_ = o.uses_notify_;
    listener_path = std::move(o.listener_path);
    listener_metadata = std::move(o.listener_metadata);
    skipped_syscalls = std::move(o.skipped_syscalls);
  }
  return *this;
}

CompiledFilter::~CompiledFilter() {
  if (ctx_) seccomp_release(static_cast<scmp_filter_ctx>(ctx_));
}

namespace {

enum class Act { kill_thread, kill_process, trap, errno_, trace, allow, log, notify };

struct ActName {
  const char* name;
  Act act;
};
constexpr ActName kActions[] = {
    {"SCMP_ACT_KILL", Act::kill_thread},  // runc: KILL is KILL_THREAD
    {"SCMP_ACT_KILL_THREAD", Act::kill_thread},
    {"SCMP_ACT_KILL_PROCESS", Act::kill_process},
    {"SCMP_ACT_TRAP", Act::trap},
    {"SCMP_ACT_ERRNO", Act::errno_},
    {"SCMP_ACT_TRACE", Act::trace},
    {"SCMP_ACT_ALLOW", Act::allow},
    {"SCMP_ACT_LOG", Act::log},
    {"SCMP_ACT_NOTIFY", Act::notify},
};

struct OpName {
  const char* name;
  scmp_compare op;
};
constexpr OpName kOps[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

constexpr uint32_t kDefaultErrno = EPERM;  // ERRNO/TRACE without errnoRet, as runc

// Reads an action name (+ errnoRet, where it applies) into a libseccomp action value.
Result<uint32_t> parse_action(const JsonAt& action_at, const JsonAt& errno_at, Act* kind) {
  std::string name = VEIL_TRY(action_at.string());
  const ActName* found = nullptr;
  for (const auto& a : kActions)
    if (name == a.name) found = &a;
  if (!found) return action_at.fail("unknown action " + json_quote(name));
  *kind = found->act;
  uint32_t ret = kDefaultErrno;
  if (errno_at.present()) ret = VEIL_TRY(errno_at.integer<uint16_t>());
  switch (found->act) {
    case Act::kill_thread:
      return SCMP_ACT_KILL_THREAD;
    case Act::kill_process:
      return SCMP_ACT_KILL_PROCESS;
    case Act::trap:
      return SCMP_ACT_TRAP;
    case Act::errno_:
      return SCMP_ACT_ERRNO(ret);
    case Act::trace:
      return SCMP_ACT_TRACE(ret);
    case Act::allow:
      return SCMP_ACT_ALLOW;
    case Act::log:
      return SCMP_ACT_LOG;
    case Act::notify:
      return SCMP_ACT_NOTIFY;
  }
  return action_at.fail("unknown action " + json_quote(name));
}

// "SCMP_ARCH_X86_64" → libseccomp's token, via its own names ("x86_64", "aarch64", …).
std::optional<uint32_t> arch_token(const std::string& name) {
  constexpr std::string_view prefix = "SCMP_ARCH_";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  std::string lower;
  for (size_t i = prefix.size(); i < name.size(); ++i)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  if (lower == "native") return seccomp_arch_native();
  uint32_t token = seccomp_arch_resolve_name(lower.c_str());
  if (token == 0) return std::nullopt;
  return token;
}

std::string libseccomp_version() {
  const scmp_version* v = seccomp_version();
  return v ? strprintf("%u.%u.%u", v->major, v->minor, v->micro) : std::string("?");
}

Result<> set_attr(scmp_filter_ctx ctx, scmp_filter_attr attr, uint32_t value, const JsonAt& at,
                  const std::string& what) {
  int rc = seccomp_attr_set(ctx, attr, value);
  if (rc < 0)
    return std::unexpected(Error{at.where() + ": " + what + " is not supported here (libseccomp " +
                                     libseccomp_version() + ", API level " +
                                     std::to_string(seccomp_api_get()) + ")",
                                 -rc});
  return {};
}

Result<> apply_flag(scmp_filter_ctx ctx, const JsonAt& at, bool uses_notify) {
  std::string flag = VEIL_TRY(at.string());
  if (flag == "SECCOMP_FILTER_FLAG_TSYNC") {
    // The container init is single-threaded, so TSYNC changes nothing there; libseccomp can only
    // combine it with a notify listener from API level 6 (TSYNC_ESRCH), so it is dropped then.
    if (uses_notify && seccomp_api_get() < 6) return {};
    return set_attr(ctx, SCMP_FLTATR_CTL_TSYNC, 1, at, flag);
  }
  if (flag == "SECCOMP_FILTER_FLAG_LOG") return set_attr(ctx, SCMP_FLTATR_CTL_LOG, 1, at, flag);
  if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
    return set_attr(ctx, SCMP_FLTATR_CTL_SSB, 1, at, flag);
  if (flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
    return set_attr(ctx, SCMP_FLTATR_CTL_WAITKILL, 1, at, flag);
#else
    return at.fail(flag + " is not supported by this build (libseccomp " + libseccomp_version() +
                   "; needs 2.6 or newer)");
#endif
  }
  return at.fail("unknown flag " + json_quote(flag));
}

struct Rule {
  size_t index;  // in syscalls[]
  std::vector<std::string> names;
  uint32_t action;
  Act kind;
  std::vector<scmp_arg_cmp> args;
};

Result<Rule> parse_rule(const JsonAt& at, size_t index) {
  VEIL_CHECK(at.object());
  Rule r{index, {}, 0, Act::allow, {}};
  r.names = VEIL_TRY(at["names"].strings());
  for (size_t i = 0; i < r.names.size(); ++i)
    if (r.names[i].empty()) return at["names"][i].fail("empty syscall name");
  r.action = VEIL_TRY(parse_action(at["action"], at["errnoRet"], &r.kind));
  JsonAt args = at["args"];
  if (args.present()) {
    size_t n = VEIL_TRY(args.array());
    if (n > 6) return args.fail("at most 6 argument conditions, got " + std::to_string(n));
    for (size_t i = 0; i < n; ++i) {
      JsonAt a = args[i];
      VEIL_CHECK(a.object());
      unsigned idx = VEIL_TRY(a["index"].integer<unsigned>());
      if (idx > 5) return a["index"].fail("must be 0..5, got " + std::to_string(idx));
      uint64_t value = VEIL_TRY(a["value"].integer<uint64_t>());
      uint64_t value_two = 0;
      VEIL_CHECK(a["valueTwo"].get(value_two));
      std::string op = VEIL_TRY(a["op"].string());
      const OpName* found = nullptr;
      for (const auto& o : kOps)
        if (op == o.name) found = &o;
      if (!found) return a["op"].fail("unknown operator " + json_quote(op));
      // MASKED_EQ: value is the mask, valueTwo what the masked argument must equal (as runc).
      r.args.push_back(scmp_arg_cmp{idx, found->op, value, value_two});
    }
  }
  // Unlike runc, SCMP_ACT_NOTIFY on write is fine: the parent copies the listener fd out of the
  // container process (runtime/process.hpp), nothing of ours has to write it first.
  return r;
}

Result<> add_rule(scmp_filter_ctx ctx, const JsonAt& at, const Rule& r, const std::string& name,
                  int nr) {
  auto add = [&](const scmp_arg_cmp* args, unsigned n) -> Result<> {
    int rc = seccomp_rule_add_array(ctx, r.action, nr, n, args);
    if (rc < 0)
      return std::unexpected(
          Error{at.where() + ": adding the rule for " + json_quote(name) + " failed", -rc});
    return {};
  };
  if (r.args.empty()) return add(nullptr, 0);
  // libseccomp ANDs the conditions of one rule and refuses two on the same argument; like runc, a
  // rule with repeated argument indexes becomes one rule per condition.
  std::array<int, 6> per_index{};
  bool repeated = false;
  for (const auto& c : r.args)
    if (++per_index[c.arg] > 1) repeated = true;
  if (!repeated) return add(r.args.data(), static_cast<unsigned>(r.args.size()));
  for (const auto& c : r.args) VEIL_CHECK(add(&c, 1));
  return {};
}

}  // namespace

Result<CompiledFilter> compile(const json& seccomp_json) {
  JsonAt root(&seccomp_json, "linux.seccomp");
  VEIL_CHECK(root.object());

  Act default_kind{};
  uint32_t default_action =
      VEIL_TRY(parse_action(root["defaultAction"], root["defaultErrnoRet"], &default_kind));
  if (default_kind == Act::notify)
    return root["defaultAction"].fail("SCMP_ACT_NOTIFY cannot be the default action");

  CompiledFilter f;
  VEIL_CHECK(root["listenerPath"].get(f.listener_path));
  VEIL_CHECK(root["listenerMetadata"].get(f.listener_metadata));

  // Validate every rule before touching libseccomp, so errors come in document order.
  std::vector<Rule> rules;
  JsonAt syscalls = root["syscalls"];
  if (syscalls.present()) {
    size_t n = VEIL_TRY(syscalls.array());
    for (size_t i = 0; i < n; ++i) {
      Rule r = VEIL_TRY(parse_rule(syscalls[i], i));
      if (r.kind == Act::notify) f.uses_notify_ = true;
      rules.push_back(std::move(r));
    }
  }

  std::vector<uint32_t> arches;
  JsonAt arch_at = root["architectures"];
  if (arch_at.present()) {
    size_t n = VEIL_TRY(arch_at.array());
    for (size_t i = 0; i < n; ++i) {
      std::string name = VEIL_TRY(arch_at[i].string());
      auto token = arch_token(name);
      if (!token) return arch_at[i].fail("unknown architecture " + json_quote(name));
      arches.push_back(*token);
    }
  }

  JsonAt flags_at = root["flags"];
  size_t nflags = 0;
  if (flags_at.present()) nflags = VEIL_TRY(flags_at.array());

  if (f.uses_notify_) {
    if (f.listener_path.empty())
      return root["listenerPath"].fail("is required when a rule uses SCMP_ACT_NOTIFY");
    if (f.listener_path.size() >= sizeof(sockaddr_un{}.sun_path))
      return root["listenerPath"].fail("too long for a unix socket path (" +
                                       std::to_string(f.listener_path.size()) + " bytes)");
    unsigned api = seccomp_api_get();
    if (api < 6)
      return root.fail("SCMP_ACT_NOTIFY needs libseccomp API level 6 (libseccomp >= 2.5, Linux " +
                       std::string(">= 5.7), this host has ") + std::to_string(api));
  }

  auto ctx = seccomp_init(default_action);
  if (!ctx) return root["defaultAction"].fail("libseccomp refused the default action");
  f.ctx_ = ctx;
  // no_new_privs is the caller's decision (process.noNewPrivileges), never libseccomp's.
  VEIL_CHECK(set_attr(ctx, SCMP_FLTATR_CTL_NNP, 0, root, "clearing the NNP attribute"));
  // Report the kernel's errno from seccomp_load() rather than libseccomp's ECANCELED.
  seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);

  for (size_t i = 0; i < arches.size(); ++i) {
    int rc = seccomp_arch_add(ctx, arches[i]);
    if (rc < 0 && rc != -EEXIST)
      return std::unexpected(Error{arch_at[i].where() + ": cannot add the architecture", -rc});
  }
  for (size_t i = 0; i < nflags; ++i) VEIL_CHECK(apply_flag(ctx, flags_at[i], f.uses_notify_));

  for (const auto& r : rules) {
    if (r.action == default_action) continue;  // libseccomp refuses rules equal to the default
    JsonAt at = syscalls[r.index];
    for (const auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        f.skipped_syscalls.push_back(name);  // unknown here: skipped, as runc does
        continue;
      }
      VEIL_CHECK(add_rule(ctx, at, r, name, nr));
    }
  }
  return f;
}

Result<int> load(CompiledFilter& filter) {
  if (!filter.ctx_) return fail("seccomp: no compiled filter to load");
  auto ctx = static_cast<scmp_filter_ctx>(filter.ctx_);
  int rc = seccomp_load(ctx);
  if (rc < 0) {
    if (rc == -EACCES)
      return fail("loading the seccomp filter: set no_new_privs first or keep CAP_SYS_ADMIN", -rc);
    return fail("loading the seccomp filter", -rc);
  }
  if (!filter.uses_notify_) return -1;
  // No syscall here: the kernel made the listener fd close-on-exec already.
  int nfd = seccomp_notify_fd(ctx);
  if (nfd < 0) return fail("seccomp: no notify fd after loading the filter", -nfd);
  return nfd;
}

Result<Fd> fd_from_process(pid_t pid, int fd) {
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return fail_errno(strprintf("pidfd_open(%d)", static_cast<int>(pid)));
  int out = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0));
  if (out < 0)
    return fail_errno(strprintf("pidfd_getfd(pid %d, fd %d)", static_cast<int>(pid), fd));
  return Fd(out);  // pidfd_getfd sets O_CLOEXEC
}

Result<Fd> wait_listener_fd(pid_t pid, int fd, int timeout_ms) {
  std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  for (int waited = 0;; ++waited) {
    if (read_link(link) == "anon_inode:seccomp notify") return fd_from_process(pid, fd);
    if (!linux_proc::alive(pid, 0))
      return fail(
          strprintf("seccomp notify: the container process (pid %d) exited before loading "
                    "its filter",
                    static_cast<int>(pid)));
    if (waited >= timeout_ms)
      return fail(strprintf("seccomp notify: timed out after %d ms waiting for pid %d to load its "
                            "filter",
                            timeout_ms, static_cast<int>(pid)),
                  ETIMEDOUT);
    struct timespec ts {
      0, 1'000'000
    };
    ::nanosleep(&ts, nullptr);
  }
}

Result<> send_notify_fd(const std::string& listener_path, const std::string& metadata,
                        const json& state, int fd, pid_t process_pid) {
  const std::string where = "seccomp listener " + listener_path;
  json msg = json::object();
  msg["ociVersion"] =
      state.is_object() && state.contains("ociVersion") && state["ociVersion"].is_string()
          ? state["ociVersion"]
          : json("1.0.2");
  msg["fds"] = json::array({"seccompFd"});
  if (process_pid > 0)
    msg["pid"] = process_pid;
  else if (state.is_object() && state.contains("pid"))
    msg["pid"] = state["pid"];
  if (!metadata.empty()) msg["metadata"] = metadata;
  msg["state"] = state;
  std::string body = msg.dump();

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (listener_path.empty() || listener_path.size() >= sizeof addr.sun_path)
    return fail(where + ": not a usable unix socket path");
  std::memcpy(addr.sun_path, listener_path.data(), listener_path.size());

  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return fail_errno(where + ": socket");
  // A listener that accepts nothing must not hang us (connect and send honour SO_SNDTIMEO).
  struct timeval tv {
    10, 0
  };
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  do {
    rc = ::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return fail_errno(where + ": connect");

  // The fd rides on the first byte(s) of the message; the rest (if the kernel took only part)
  // follows with plain sends.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{body.data(), body.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do {
    n = ::sendmsg(sock.get(), &mh, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno(where + ": sending the notify fd");
  size_t done = static_cast<size_t>(n);
  while (done < body.size()) {
    n = ::send(sock.get(), body.data() + done, body.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(where + ": sending the container state");
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace veil::seccomp
