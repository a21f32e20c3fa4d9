// One function per subcommand: parses its own arguments and runs it. The return value is the
// process exit code; errors come back as Result errors (exit 1) or usage errors (exit 2).
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "cli/args.hpp"
#include "runtime/lifecycle.hpp"

namespace veil::cli {

struct Context {
  runtime::Globals globals;
};

using Command = Result<int> (*)(Context&, int argc, char** argv);

Result<int> cmd_create(Context&, int argc, char** argv);
Result<int> cmd_start(Context&, int argc, char** argv);
Result<int> cmd_run(Context&, int argc, char** argv);
Result<int> cmd_state(Context&, int argc, char** argv);
Result<int> cmd_kill(Context&, int argc, char** argv);
Result<int> cmd_delete(Context&, int argc, char** argv);
Result<int> cmd_list(Context&, int argc, char** argv);
Result<int> cmd_pause(Context&, int argc, char** argv);
Result<int> cmd_resume(Context&, int argc, char** argv);
Result<int> cmd_update(Context&, int argc, char** argv);
Result<int> cmd_exec(Context&, int argc, char** argv);
Result<int> cmd_ps(Context&, int argc, char** argv);
Result<int> cmd_events(Context&, int argc, char** argv);
Result<int> cmd_spec(Context&, int argc, char** argv);
Result<int> cmd_features(Context&, int argc, char** argv);
Result<int> cmd_check(Context&, int argc, char** argv);
Result<int> cmd_guard(Context&, int argc, char** argv);
Result<int> cmd_measure(Context&, int argc, char** argv);
Result<int> cmd_attest(Context&, int argc, char** argv);

// Writes text to stdout in full.
void print(const std::string& text);
// The same; false when stdout is gone (a closed pipe).
bool print_all(const std::string& text);
// Parses a subcommand's arguments; "-h/--help" prints help and sets *help. Checks the number of
// positionals is within [min_pos, max_pos].
Result<std::vector<std::string>> parse_command(const char* name, const char* help_text, int argc,
                                               char** argv, std::vector<struct Opt> opts,
                                               size_t min_pos, size_t max_pos, bool* help,
                                               bool stop_at_positional = false);

}  // namespace veil::cli
