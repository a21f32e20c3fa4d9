// exec: run another process in a running container.
#include <cstdlib>

#include "base/log.hpp"
#include "cli/commands.hpp"
#include "runtime/exec.hpp"

namespace veil::cli {

Result<int> cmd_exec(Context& ctx, int argc, char** argv) {
  runtime::ExecOptions o;
  bool help = false;
  std::string env, cap, ignored;
  bool no_subreaper = false;
  auto add_gid = [&o](const std::string& x) -> Result<> {
    char* end = nullptr;
    unsigned long g = std::strtoul(x.c_str(), &end, 10);
    if (x.empty() || *end)
      return fail("--additional-gids " + x + ": expected a number", kUsageErrno);
    o.additional_gids.push_back(static_cast<uint32_t>(g));
    return {};
  };
  auto add_to = [](std::vector<std::string>& v) {
    return [&v](const std::string& x) -> Result<> {
      v.push_back(x);
      return {};
    };
  };
  auto pos = VEIL_TRY(parse_command(
      "exec",
      "usage: veil exec [flags] ID [COMMAND [ARG...]]\n\nRun a process in a running container; "
      "in the foreground, exit with its status.\n"
      "  -p, --process FILE      the process as OCI process JSON (instead of COMMAND)\n"
      "  -d, --detach            do not wait for the process\n"
      "      --pid-file FILE     write the process's pid to FILE\n"
      "  -e, --env K=V           add an environment variable (repeatable)\n"
      "      --cwd DIR           working directory\n"
      "  -u, --user UID[:GID]    run as this user\n"
      "  -c, --cap CAP           add a capability (repeatable)\n"
      "      --no-new-privs      set no_new_privs\n"
      "      --preserve-fds N    pass N extra fds\n"
      "  -t, --tty               give the process a pty\n"
      "      --console-socket S  unix socket that receives the pty master (with --tty)\n"
      "  -g, --additional-gids G additional group (repeatable)\n"
      "      --cgroup [CTRL:]P   run in sub-cgroup P of the container's (repeatable)\n"
      "      --ignore-paused     exec even when the container is paused\n"
      "\nA failure of exec itself exits 255 (as runc), so that it cannot be taken for the "
      "process's own status.\n",
      argc, argv,
      {{"process", 'p', true, to(o.process_file)},
       {"detach", 'd', false, flag(o.detach)},
       {"pid-file", 0, true, to(o.pid_file)},
       {"env", 'e', true, add_to(o.env)},
       {"cwd", 0, true, to(o.cwd)},
       {"user", 'u', true, to(o.user)},
       {"cap", 'c', true, add_to(o.caps)},
       {"no-new-privs", 0, false, flag(o.no_new_privs)},
       {"tty", 't', false, flag(o.tty)},
       {"console-socket", 0, true, to(o.console_socket)},
       {"preserve-fds", 0, true, to_int(o.preserve_fds, "a number of fds")},
       {"additional-gids", 'g', true, add_gid},
       {"cgroup", 0, true, add_to(o.cgroups)},
       {"ignore-paused", 0, false, flag(o.ignore_paused)},
       // runc flags for SELinux/AppArmor and subreaping: accepted, no effect here.
       {"process-label", 0, true, to(ignored)},
       {"apparmor", 0, true, to(ignored)},
       {"no-subreaper", 0, false, flag(no_subreaper)}},
      1, 1 << 20, &help, /*stop_at_positional=*/true));
  if (help) return 0;
  o.args.assign(pos.begin() + 1, pos.end());
  auto r = runtime::exec(ctx.globals, pos[0], o);
  if (!r) {
    log::error(r.error().str());
    return 255;
  }
  return *r;
}

}  // namespace veil::cli
