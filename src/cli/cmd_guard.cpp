// `veil check` and `veil guard ...`: both run veil-guard (the guard's tooling links libbpf and a
// YAML parser, which the static runtime binary does not carry).
#include <unistd.h>

#include <cstring>

#include "base/subprocess.hpp"
#include "cli/commands.hpp"

namespace veil::cli {
namespace {

std::string guard_binary() {
  if (const char* v = std::getenv("VEIL_GUARD_BIN"); v && *v) return v;
  std::string next = self_dir() + "/veil-guard";
  if (::access(next.c_str(), X_OK) == 0) return next;
  for (const char* p : {"/usr/local/bin/veil-guard", "/usr/bin/veil-guard"})
    if (::access(p, X_OK) == 0) return p;
  return next;
}

Result<int> exec_guard(std::vector<std::string> args) {
  std::string bin = guard_binary();
  args.insert(args.begin(), bin);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  return fail_errno("run " + bin + " (install veil-guard next to veil or set VEIL_GUARD_BIN)");
}

}  // namespace

Result<int> cmd_check(Context&, int argc, char** argv) {
  std::vector<std::string> args = {"check"};
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return exec_guard(args);
}

Result<int> cmd_guard(Context&, int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  if (args.empty()) args.emplace_back("--help");
  return exec_guard(args);
}

}  // namespace veil::cli
