// veil: a runc-compatible OCI runtime. Exit codes: 0 success, 1 the operation failed (the message
// says why), 2 bad command line; `run` exits with the container's status.
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

#include "base/log.hpp"
#include "base/strings.hpp"
#include "cli/commands.hpp"
#include "linux/sealed_exe.hpp"

namespace veil::cli {
namespace {

constexpr const char* kUsage =
    "usage: veil [global flags] COMMAND [flags] [ARGS]\n"
    "\n"
    "veil: a trusted-native sandbox runtime (runc-compatible OCI runtime)\n"
    "\n"
    "Commands:\n"
    "  create    create a container (its process waits for start)\n"
    "  start     run the process of a created container\n"
    "  run       create and start a container; wait unless --detach\n"
    "  state     print the state of a container (JSON)\n"
    "  kill      send a signal to a container\n"
    "  delete    delete a container\n"
    "  list      list containers\n"
    "  pause     freeze every process of a container\n"
    "  resume    thaw a paused container\n"
    "  update    change the resource limits of a container\n"
    "  ps        list the processes of a container\n"
    "  events    resource usage and OOM events of a container (JSON lines)\n"
    "  exec      run another process in a running container\n"
    "  spec      write a default config.json\n"
    "  features  print what this runtime supports (JSON)\n"
    "  check     print how this host enforces each guard protection\n"
    "  guard     the guard: load, daemon, status, check, prepare (see veil guard --help)\n"
    "  measure   print a bundle's sandbox measurement (KBS reference value)\n"
    "  attest    attest a bundle to the KBS and fetch one secret\n"
    "\n"
    "Global flags:\n"
    "  --root DIR               container state directory (default /run/veil)\n"
    "  --log FILE               append log lines to FILE\n"
    "  --log-format text|json   log line format (default text)\n"
    "  --debug                  log debug messages\n"
    "  --systemd-cgroup         manage cgroups through systemd (needs a running systemd)\n"
    "  -v, --version            print the version\n"
    "  -h, --help               print this help\n"
    "\n"
    "`veil COMMAND --help` describes a command.\n";

struct Entry {
  const char* name;
  Command fn;
};
constexpr Entry kCommands[] = {
    {"create", cmd_create},
    {"start", cmd_start},
    {"run", cmd_run},
    {"state", cmd_state},
    {"kill", cmd_kill},
    {"delete", cmd_delete},
    {"list", cmd_list},
    {"spec", cmd_spec},
    {"features", cmd_features},
    {"check", cmd_check},
    {"guard", cmd_guard},
    {"measure", cmd_measure},
    {"attest", cmd_attest},
    {"exec", cmd_exec},
    {"ps", cmd_ps},
    {"pause", cmd_pause},
    {"resume", cmd_resume},
    {"update", cmd_update},
    {"events", cmd_events},
    // runc commands veil does not implement: a clear "not implemented" (exit 1).
    {"checkpoint", nullptr},
    {"restore", nullptr},
};

bool enters_container(const char* cmd) {
  return std::strcmp(cmd, "create") == 0 || std::strcmp(cmd, "run") == 0 ||
         std::strcmp(cmd, "exec") == 0;
}

}  // namespace

bool print_all(const std::string& text) {
  const char* p = text.data();
  size_t n = text.size();
  while (n > 0) {
    ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void print(const std::string& text) {
  (void)print_all(text);
}

Result<std::vector<std::string>> parse_command(const char* name, const char* help_text, int argc,
                                               char** argv, std::vector<Opt> opts, size_t min_pos,
                                               size_t max_pos, bool* help,
                                               bool stop_at_positional) {
  opts.push_back({"help", 'h', false, flag(*help)});
  auto pos = VEIL_TRY(parse_args(name, argc, argv, opts, stop_at_positional));
  if (*help) {
    print(help_text);
    return pos;
  }
  if (pos.size() < min_pos)
    return fail(std::string(name) + ": missing " + (min_pos == 1 ? "container id" : "arguments") +
                    " (see veil " + name + " --help)",
                kUsageErrno);
  if (pos.size() > max_pos)
    return fail(std::string(name) + ": unexpected argument \"" + pos[max_pos] + "\"", kUsageErrno);
  return pos;
}

}  // namespace veil::cli

int main(int argc, char** argv) {
  using namespace veil;
  using namespace veil::cli;
  Context ctx;
  log::Options lopts;
  std::string log_format = "text", ignored;
  bool version = false, help = false;
  std::vector<Opt> globals = {
      {"root", 0, true, to(ctx.globals.root)},
      {"log", 0, true, to(lopts.file)},
      {"log-format", 0, true, to(log_format)},
      {"debug", 0, false, flag(lopts.debug)},
      {"systemd-cgroup", 0, false, flag(ctx.globals.systemd_cgroup)},
      {"rootless", 0, true, to(ignored)},  // runc compatibility
      {"criu", 0, true, to(ignored)},      // runc compatibility
      {"version", 'v', false, flag(version)},
      {"help", 'h', false, flag(help)},
  };
  // `veil-vm` (a link to veil, for a second RuntimeClass) runs containers in microVMs unless their
  // config names another handler; so does VEIL_DEFAULT_HANDLER=microvm.
  if (const char* h = ::getenv("VEIL_DEFAULT_HANDLER"); h && *h) ctx.globals.default_handler = h;
  if (const char* slash = std::strrchr(argv[0], '/');
      std::strcmp(slash ? slash + 1 : argv[0], "veil-vm") == 0)
    ctx.globals.default_handler = "microvm";
  auto rest = parse_args("veil", argc, argv, globals, true);
  if (!rest) {
    log::error(rest.error().msg);
    return 2;
  }
  if (version) {
    // runc's shape: "runc version X\ncommit: …\nspec: …\ngo: …\nlibseccomp: …".
    const scmp_version* sv = seccomp_version();
    print(strprintf("veil version %s\ncommit: %s\nspec: 1.2.0\nlibseccomp: %u.%u.%u\n",
                    VEIL_VERSION, VEIL_COMMIT, sv ? sv->major : 0, sv ? sv->minor : 0,
                    sv ? sv->micro : 0));
    return 0;
  }
  if (help) {
    print(kUsage);
    return 0;
  }
  if (log_format != "text" && log_format != "json") {
    log::error("--log-format must be text or json, got \"" + log_format + "\"");
    return 2;
  }
  lopts.format = log_format == "json" ? log::Format::json : log::Format::text;
  if (rest->empty()) {
    log::configure(lopts);
    log::error("no command given (see veil --help)");
    return 2;
  }
  // The subcommand's argv starts at its name.
  int sub_argc = static_cast<int>(rest->size());
  char** sub_argv = argv + (argc - sub_argc);
  // Commands whose processes enter a container run from a sealed copy of veil (CVE-2019-5736).
  if (enters_container(sub_argv[0]) && !sealed_exe::running_sealed()) {
    auto r = sealed_exe::reexec(argv);
    log::configure(lopts);
    log::error(r.error().str());
    return 1;
  }
  // The sealed copy's comm would read "memfd:veil": keep ps/top output what users know.
  if (enters_container(sub_argv[0])) ::prctl(PR_SET_NAME, "veil", 0, 0, 0);
  log::configure(lopts);
  Command fn = nullptr;
  bool known = false;
  for (const auto& e : kCommands) {
    if (std::strcmp(e.name, sub_argv[0]) == 0) {
      fn = e.fn;
      known = true;
    }
  }
  if (!known) {
    log::error(std::string("unknown command \"") + sub_argv[0] + "\" (see veil --help)");
    return 2;
  }
  if (!fn) {
    log::error(std::string("veil ") + sub_argv[0] + " is not implemented in this release yet");
    return 1;
  }
  auto r = fn(ctx, sub_argc, sub_argv);
  if (!r) {
    if (r.error().err == kUsageErrno) {
      log::error(r.error().msg);
      return 2;
    }
    log::error(r.error().str());
    return 1;
  }
  return *r;
}
