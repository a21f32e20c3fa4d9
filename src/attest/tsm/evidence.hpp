// The evidence JSON the SNP and TDX verifiers take, from what the kernel returned:
//   {"format":"veil-snp-v1","report":b64url(1184-byte report),"vcek":b64url(DER)?,"vlek":...?}
//   {"format":"veil-tdx-v1","quote":b64url(DCAP quote),"cc_eventlog":b64url(CCEL)?}
// Each checks that the report carries the 64-byte field veil asked for, so a report made for
// another request is never sent.
#pragma once

#include <string_view>

#include "attest/attest.hpp"

namespace veil::attest::tsm {

inline constexpr const char* kSnpFormat = "veil-snp-v1";
inline constexpr const char* kTdxFormat = "veil-tdx-v1";

// cert_table: the certificate table (auxblob or the SNP_GET_EXT_REPORT buffer); "" for none.
// Only the VCEK and VLEK go into the evidence (the verifier pins AMD's ASK and ARK).
Result<json> snp_evidence(std::string_view report, std::string_view cert_table,
                          std::string_view field64);
// cc_eventlog: "" for none.
Result<json> tdx_evidence(std::string_view quote, std::string_view cc_eventlog,
                          std::string_view field64);
// The REPORTDATA field of a DCAP TDX quote (version 4, or 5 with a TD report 1.0/1.5 body).
Result<std::string_view> tdx_quote_report_data(std::string_view quote);

}  // namespace veil::attest::tsm
