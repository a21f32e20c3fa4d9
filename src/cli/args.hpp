// Command-line parsing on glibc's getopt_long: GNU-style long options (--bundle B, --bundle=B),
// short letters (-b B), options and positionals in any order, "--" ends options.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::cli {

// Error::err of usage errors (bad flags, missing arguments): main() exits 2 for them.
constexpr int kUsageErrno = -2;

struct Opt {
  const char* name;  // long name, without "--"
  char letter = 0;   // short form, 0 for none
  bool takes_value = false;
  std::function<Result<>(const std::string& value)> set;
};

// Parses argv[1..] (argv[0] is the command name used in messages). With stop_at_positional,
// parsing ends at the first positional (for the global flags before the subcommand).
// Returns the positionals; a usage error says "<command>: …".
Result<std::vector<std::string>> parse_args(const std::string& command, int argc, char** argv,
                                            const std::vector<Opt>& opts,
                                            bool stop_at_positional = false);

// Helpers for Opt::set.
std::function<Result<>(const std::string&)> to(std::string& dst);
std::function<Result<>(const std::string&)> flag(bool& dst);
std::function<Result<>(const std::string&)> to_int(int& dst, const char* what);

}  // namespace veil::cli
