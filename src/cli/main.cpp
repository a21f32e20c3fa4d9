// veil: a runc-compatible OCI runtime. Exit codes: 0 success, 1 the operation failed (the message
// says why), 2 bad command line; `run` exits with the container's status.
#include <unistd.h>

#include <memory>

#include "base/log.hpp"
#include "cli/commands.hpp"

namespace veil::cli {

void print(const std::string& text) {
  const char* p = text.data();
  size_t n = text.size();
  while (n > 0) {
    ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void add_create_options(CLI::App* cmd, runtime::CreateOptions& o) {
  cmd->add_option("-b,--bundle", o.bundle, "path to the bundle directory (default: .)");
  cmd->add_option("--pid-file", o.pid_file, "write the container process's pid to this file");
  cmd->add_option("--console-socket", o.console_socket,
                  "unix socket that receives the pty master (process.terminal)");
  cmd->add_flag("--no-pivot", o.no_pivot, "use chroot instead of pivot_root");
  cmd->add_flag("--no-new-keyring", o.no_new_keyring, "keep the caller's session keyring");
  cmd->add_option("--preserve-fds", o.preserve_fds,
                  "pass this many extra fds (from 3 on) to the container process");
}

}  // namespace veil::cli

int main(int argc, char** argv) {
  using namespace veil;
  cli::Context ctx;
  CLI::App app{"veil: a trusted-native sandbox runtime (runc-compatible OCI runtime)", "veil"};
  app.require_subcommand(1);
  app.fallthrough();
  log::Options lopts;
  std::string log_format = "text";
  std::string rootless = "auto";
  app.add_option("--root", ctx.globals.root, "directory for container state (default /run/veil)");
  app.add_option("--log", lopts.file, "append log messages to this file");
  app.add_option("--log-format", log_format, "log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", lopts.debug, "log debug messages");
  app.add_flag("--systemd-cgroup", ctx.globals.systemd_cgroup,
               "use systemd to manage cgroups (needs a running systemd)");
  app.add_option("--rootless", rootless, "accepted for runc compatibility (auto|true|false)");
  app.set_version_flag("-v,--version",
                       std::string("veil version ") + VEIL_VERSION + "\nspec: 1.2.0");

  cli::add_create(app, ctx);
  cli::add_start(app, ctx);
  cli::add_run(app, ctx);
  cli::add_state(app, ctx);
  cli::add_kill(app, ctx);
  cli::add_delete(app, ctx);
  cli::add_list(app, ctx);
  cli::add_spec(app, ctx);
  cli::add_features(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  lopts.format = log_format == "json" ? log::Format::json : log::Format::text;
  log::configure(lopts);
  if (!ctx.action) return 2;
  auto r = ctx.action();
  if (!r) {
    log::error(r.error().str());
    return 1;
  }
  return *r;
}
