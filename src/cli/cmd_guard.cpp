// `veil check` and `veil guard ...`: both run veil-guard (the guard's tooling links libbpf and a
// YAML parser, which the static runtime binary does not carry).
#include <unistd.h>

#include <cstring>

#include "base/subprocess.hpp"
#include "cli/commands.hpp"
#include "guard/instance.hpp"

namespace veil::cli {
namespace {

Result<int> exec_guard(std::vector<std::string> args) {
  std::string bin = guard::guard_binary();
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
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      print(
          "usage: veil check [--json]\n\nPrint how this host enforces each guard protection "
          "(runs veil-guard check).\n  --json   machine-readable output\n");
      return 0;
    }
    args.push_back(a);
  }
  return exec_guard(args);
}

Result<int> cmd_guard(Context&, int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  if (args.empty()) args.emplace_back("--help");
  return exec_guard(args);
}

}  // namespace veil::cli
