// measure and attest: run by the attestation agent veil-attest (installed next to veil), which
// parses their flags and prints their help. veil itself links no HTTP, TLS or TPM code.
#include <unistd.h>

#include "cli/commands.hpp"
#include "runtime/secrets_fetch.hpp"

namespace veil::cli {
namespace {

[[gnu::cold]] Result<int> exec_agent(const char* sub, int argc, char** argv) {
  std::string agent = runtime::agent_path();
  std::vector<char*> args = {const_cast<char*>("veil-attest"), const_cast<char*>(sub)};
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(agent.c_str(), args.data());
  return fail_errno(std::string(sub) + ": run the attestation agent " + agent +
                    " (install veil-attest next to veil)");
}

}  // namespace

[[gnu::cold]] Result<int> cmd_measure(Context&, int argc, char** argv) {
  return exec_agent("measure", argc, argv);
}

[[gnu::cold]] Result<int> cmd_attest(Context&, int argc, char** argv) {
  return exec_agent("attest", argc, argv);
}

}  // namespace veil::cli
