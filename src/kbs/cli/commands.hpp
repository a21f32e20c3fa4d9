// veil-kbs subcommands that live in their own files.
#pragma once

#include <string>

namespace veil::kbs::cli {

struct VerifyArgs {
  std::string tee, evidence, report_data;
  std::string collateral, at;  // snp/tdx/sgx: collateral directory; time certificates are checked at
  std::string trusted_key;     // sample: base64url raw Ed25519 public key
  std::string ak;              // tpm: PEM attestation key
};
// Exit code: 0 verified (claims on stdout), 1 refused or unreadable (the reason on stderr).
int verify(const VerifyArgs& a);

}  // namespace veil::kbs::cli
