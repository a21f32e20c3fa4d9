// The `snp` verifier: AMD SEV-SNP attestation reports, checked offline against AMD's roots
// pinned in the binary (roots.hpp).
//
// Evidence: {"format":"veil-snp-v1","report":b64url(1184-byte ATTESTATION_REPORT),
//            "vcek":b64url(DER)?, "vlek":b64url(DER)?}
// (what the in-guest attester sends, src/attest/tsm/evidence.hpp). The report's SIGNING_KEY field
// says which certificate signs it; when the evidence carries none, it is taken from the
// collateral directory:
//   vcek-<chip_id, 128 lowercase hex>.der   the chip's VCEK (AMD KDS /vcek/v1/<product>/<hwid>)
//   vcek.der                                a VCEK for any chip (tried second)
//   vlek.der                                the VLEK, for VLEK-signed reports
//   *.crl                                   CRLs (DER or PEM; AMD KDS /vcek/v1/<product>/crl),
//                                           honoured for every certificate of the chain
// Checks, in order, each error starting with its name: evidence (the JSON), report (parse),
// signature (signing key "none" or MASK_CHIP_KEY), collateral (finding the certificate or CRLs),
// certificate (DER), root (AMD roots for the product), chain (VCEK -> product's ASK -> pinned
// ARK, VLEK -> ASVK -> ARK; validity at `at`; CRLs), signature (ECDSA P-384 over bytes
// 0x000..0x29F), product (the report's CPUID, version 3+, names the same product as the
// certificate), tcb (the certificate's blSPL/teeSPL/snpSPL/ucodeSPL, and fmcSPL on Turin, equal
// the report's REPORTED_TCB), chip (a VCEK's hwID equals CHIP_ID, unless the host masked CHIP_ID
// to zeros: the VCEK's signature already ties the report to one chip).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attest/attest.hpp"
#include "attest/snp/report.hpp"
#include "attest/snp/roots.hpp"

namespace veil::attest::snp {

inline constexpr const char* kTee = "snp";
inline constexpr const char* kFormat = "veil-snp-v1";

struct Options {
  std::string collateral_dir;  // "" for none (every report must then carry its certificate)
  int64_t at = 0;              // Unix seconds at which certificates must be valid; 0: now
};

struct Crls {
  std::vector<x509::Crl> owned;
};
// Every *.crl (DER or PEM) in a directory ("": none).
Result<Crls> load_crls(const std::string& dir);

class SnpVerifier : public Verifier {
 public:
  // AMD's roots (Milan, Genoa, Turin), embedded in the binary.
  explicit SnpVerifier(Options options = {});
  // Other roots in their place (tests and fuzzing: a self-made chain).
  SnpVerifier(Options options, Roots roots);
  std::string tee() const override { return kTee; }
  Result<Claims> verify_evidence(const json& evidence) override;

 private:
  Options options_;
  Roots roots_;
  std::string roots_error_;  // why AMD's embedded roots did not load (never expected)
};

// Evidence JSON from a raw report and, optionally, its certificate (DER), filed as "vlek" when
// the report says a VLEK signed it, else "vcek". The report is not checked here.
json evidence_from(std::string_view report, std::string_view cert_der = {});

}  // namespace veil::attest::snp
