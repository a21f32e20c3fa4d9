// veil-attest: veil's attestation agent, installed next to the veil binary. veil runs it for
// `veil create` (containers with org.veil.secrets), `veil attest` and `veil measure`; it is a
// separate program so that the static, lean `veil` never links HTTP, TLS or TPM code and a
// container without secrets never loads any of it (docs/architecture.md).
#include <stdio.h>
#include <string.h>

#include "kbs/agent/commands.hpp"

int main(int argc, char** argv) {
  using namespace veil::agent;
  if (argc >= 2 && strcmp(argv[1], "fetch") == 0 && argc == 2) return fetch_main();
  if (argc >= 2 && strcmp(argv[1], "attest") == 0) return attest_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "measure") == 0) return measure_main(argc - 1, argv + 1);
  fputs(
      "usage: veil-attest attest [flags]     (veil attest: fetch one KBS resource by hand)\n"
      "       veil-attest measure [--bundle DIR]  (veil measure: a bundle's reference value)\n"
      "       veil-attest fetch                (run by veil create; request on stdin, answers on "
      "fd 3)\n",
      stderr);
  return 2;
}
