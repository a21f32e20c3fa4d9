// The veil-attest subcommands. Each returns the exit code: 0 success, 1 failure, 2 bad usage.
#pragma once

namespace veil::agent {

// `fetch`: run by `veil create` for a container with org.veil.secrets. Request on stdin
// {"bundle": DIR, "config": TEXT}; answer packets on fd 3 (protocol in runtime/secrets_fetch.hpp).
int fetch_main();
// `attest` (what `veil attest` runs): one resource by hand, to stdout or a file.
int attest_main(int argc, char** argv);
// `measure` (what `veil measure` runs): a bundle's reference value.
int measure_main(int argc, char** argv);

}  // namespace veil::agent
