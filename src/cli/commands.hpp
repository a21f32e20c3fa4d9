// One function per subcommand registers it on the CLI11 app. A subcommand's callback stores the
// action to run; main() runs it after the global flags are applied.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "base/error.hpp"
#include "runtime/lifecycle.hpp"

namespace veil::cli {

struct Context {
  runtime::Globals globals;
  std::function<Result<int>()> action;
};

void add_create(CLI::App& app, Context& ctx);
void add_start(CLI::App& app, Context& ctx);
void add_run(CLI::App& app, Context& ctx);
void add_state(CLI::App& app, Context& ctx);
void add_kill(CLI::App& app, Context& ctx);
void add_delete(CLI::App& app, Context& ctx);
void add_list(CLI::App& app, Context& ctx);
void add_spec(CLI::App& app, Context& ctx);
void add_features(CLI::App& app, Context& ctx);

// Options shared by create and run.
void add_create_options(CLI::App* cmd, runtime::CreateOptions& o);

// Writes text to stdout in full.
void print(const std::string& text);

}  // namespace veil::cli
