// The hardware-TEE parts of the veil-kbs benchmark (tee_bench.cpp).
#pragma once

#include <string>

#include "attest/attest.hpp"
#include "attest/dcap/testing.hpp"
#include "attest/tpm.hpp"

namespace veil::bench {

using attest::json;

// TDX evidence signed by a self-made PKI (the server must pin the same root).
class TdxTestAttester : public attest::Attester {
 public:
  explicit TdxTestAttester(const attest::dcap::testing::Pki& pki);
  std::string tee() const override { return "tdx"; }
  Result<json> evidence(std::string_view report_data) override;

 private:
  const attest::dcap::testing::Pki& pki_;
};

// Prints the per-TEE verification table (one core, `secs` per row).
void verifier_table(double secs);
// The same for one TPM quote from `tpm` (swtpm), its AK enrolled.
void tpm_verifier_row(attest::TpmAttester& tpm, double secs);
// `veil-kbs serve` with the TDX verifier pinned to the root in `root_pem_file`.
int tdx_test_server(const std::string& config, const std::string& root_pem_file);

}  // namespace veil::bench
