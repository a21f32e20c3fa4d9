// The hardware-TEE parts of the veil-kbs benchmark (tee_bench.cpp).
#pragma once

#include <string>

#include "attest/attest.hpp"
#include "attest/dcap/testing.hpp"
#include "attest/tpm.hpp"

namespace veil::bench {

using attest::json;

// Prints the per-TEE verification table (one core, `secs` per row).
void verifier_table(double secs);
// The same for one TPM quote from `tpm` (swtpm), its AK enrolled.
void tpm_verifier_row(attest::TpmAttester& tpm, double secs);
// `veil-kbs serve` with the TDX verifier pinned to the root in `root_pem_file`.
int tdx_test_server(const std::string& config, const std::string& root_pem_file);

}  // namespace veil::bench
