// create, start, run, kill, delete: thin wrappers over runtime/lifecycle.
#include <memory>

#include "cli/commands.hpp"
#include "linux/signals.hpp"

namespace veil::cli {

void add_create(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("create", "create a container (its process waits for start)");
  auto opts = std::make_shared<runtime::CreateOptions>();
  auto id = std::make_shared<std::string>();
  add_create_options(cmd, *opts);
  cmd->add_option("id", *id, "container id")->required();
  cmd->callback([&ctx, opts, id] {
    ctx.action = [&ctx, opts, id]() -> Result<int> {
      VEIL_CHECK(runtime::create(ctx.globals, *id, *opts));
      return 0;
    };
  });
}

void add_start(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("start", "run the process of a created container");
  auto id = std::make_shared<std::string>();
  cmd->add_option("id", *id, "container id")->required();
  cmd->callback([&ctx, id] {
    ctx.action = [&ctx, id]() -> Result<int> {
      VEIL_CHECK(runtime::start(ctx.globals, *id));
      return 0;
    };
  });
}

void add_run(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("run", "create and start a container; wait unless --detach");
  auto opts = std::make_shared<runtime::CreateOptions>();
  auto id = std::make_shared<std::string>();
  auto detach = std::make_shared<bool>(false);
  add_create_options(cmd, *opts);
  cmd->add_flag("-d,--detach", *detach, "return once the container has started");
  cmd->add_option("id", *id, "container id")->required();
  cmd->callback([&ctx, opts, id, detach] {
    ctx.action = [&ctx, opts, id, detach]() -> Result<int> {
      return runtime::run(ctx.globals, *id, *opts, *detach);
    };
  });
}

void add_kill(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("kill", "send a signal (default SIGTERM) to a container");
  auto id = std::make_shared<std::string>();
  auto sig = std::make_shared<std::string>("SIGTERM");
  auto all = std::make_shared<bool>(false);
  cmd->add_flag("-a,--all", *all, "signal every process of the container");
  cmd->add_option("id", *id, "container id")->required();
  cmd->add_option("signal", *sig, "signal name (KILL, SIGKILL) or number (9)");
  cmd->callback([&ctx, id, sig, all] {
    ctx.action = [&ctx, id, sig, all]() -> Result<int> {
      int s = VEIL_TRY(linux_signals::parse_signal(*sig));
      VEIL_CHECK(runtime::kill(ctx.globals, *id, s, *all));
      return 0;
    };
  });
}

void add_delete(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("delete", "delete a stopped container (--force: any)");
  auto id = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  cmd->add_flag("-f,--force", *force, "kill the container first if it is running");
  cmd->add_option("id", *id, "container id")->required();
  cmd->callback([&ctx, id, force] {
    ctx.action = [&ctx, id, force]() -> Result<int> {
      VEIL_CHECK(runtime::remove(ctx.globals, *id, *force));
      return 0;
    };
  });
}

}  // namespace veil::cli
