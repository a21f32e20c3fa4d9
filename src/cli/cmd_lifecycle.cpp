// create, start, run, kill, delete: thin wrappers over runtime/lifecycle.
#include "cli/commands.hpp"
#include "linux/signals.hpp"

namespace veil::cli {
namespace {

std::vector<Opt> create_opts(runtime::CreateOptions& o) {
  return {{"bundle", 'b', true, to(o.bundle)},
          {"pid-file", 0, true, to(o.pid_file)},
          {"console-socket", 0, true, to(o.console_socket)},
          {"no-pivot", 0, false, flag(o.no_pivot)},
          {"no-new-keyring", 0, false, flag(o.no_new_keyring)},
          {"preserve-fds", 0, true, to_int(o.preserve_fds, "a number of fds")}};
}

constexpr const char* kCreateFlags =
    "  -b, --bundle DIR        bundle directory with config.json (default: .)\n"
    "      --pid-file FILE     write the container process's pid to FILE\n"
    "      --console-socket S  unix socket that receives the pty master (process.terminal)\n"
    "      --no-pivot          use chroot instead of pivot_root\n"
    "      --no-new-keyring    keep the caller's session keyring\n"
    "      --preserve-fds N    pass N extra fds (3, 4, …) to the container process\n";

}  // namespace

Result<int> cmd_create(Context& ctx, int argc, char** argv) {
  runtime::CreateOptions o;
  bool help = false;
  std::string text = std::string(
                         "usage: veil create [flags] ID\n\nCreate a container; its process "
                         "waits for `veil start`.\n\n") +
                     kCreateFlags;
  auto pos =
      VEIL_TRY(parse_command("create", text.c_str(), argc, argv, create_opts(o), 1, 1, &help));
  if (help) return 0;
  VEIL_CHECK(runtime::create(ctx.globals, pos[0], o));
  return 0;
}

Result<int> cmd_run(Context& ctx, int argc, char** argv) {
  runtime::CreateOptions o;
  bool detach = false, keep = false, help = false;
  auto opts = create_opts(o);
  opts.push_back({"detach", 'd', false, flag(detach)});
  opts.push_back({"keep", 0, false, flag(keep)});
  std::string text = std::string(
                         "usage: veil run [flags] ID\n\nCreate and start a container. In "
                         "the foreground veil forwards signals, waits,\ndeletes the "
                         "container and exits with its status.\n\n") +
                     kCreateFlags +
                     "  -d, --detach            return once the container started\n"
                     "      --keep              do not delete the container after it exits\n";
  auto pos = VEIL_TRY(parse_command("run", text.c_str(), argc, argv, opts, 1, 1, &help));
  if (help) return 0;
  return runtime::run(ctx.globals, pos[0], o, detach, keep);
}

Result<int> cmd_start(Context& ctx, int argc, char** argv) {
  bool help = false;
  auto pos = VEIL_TRY(
      parse_command("start", "usage: veil start ID\n\nRun the process of a created container.\n",
                    argc, argv, {}, 1, 1, &help));
  if (help) return 0;
  VEIL_CHECK(runtime::start(ctx.globals, pos[0]));
  return 0;
}

Result<int> cmd_kill(Context& ctx, int argc, char** argv) {
  bool all = false, help = false;
  auto pos = VEIL_TRY(parse_command(
      "kill",
      "usage: veil kill [--all] ID [SIGNAL]\n\nSend SIGNAL (default SIGTERM; a name such as KILL "
      "or SIGKILL, or a number) to the container.\n  -a, --all   signal every process of the "
      "container\n",
      argc, argv, {{"all", 'a', false, flag(all)}}, 1, 2, &help));
  if (help) return 0;
  int sig = VEIL_TRY(linux_signals::parse_signal(pos.size() > 1 ? pos[1] : "SIGTERM"));
  VEIL_CHECK(runtime::kill(ctx.globals, pos[0], sig, all));
  return 0;
}

Result<int> cmd_delete(Context& ctx, int argc, char** argv) {
  bool force = false, help = false;
  auto pos = VEIL_TRY(parse_command(
      "delete",
      "usage: veil delete [--force] ID\n\nDelete a stopped or created container.\n  -f, --force  "
      "kill it first if it is running (and succeed if it does not exist)\n",
      argc, argv, {{"force", 'f', false, flag(force)}}, 1, 1, &help));
  if (help) return 0;
  VEIL_CHECK(runtime::remove(ctx.globals, pos[0], force));
  return 0;
}

}  // namespace veil::cli
