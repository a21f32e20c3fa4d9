// The PCK certificate's SGX extension (Intel "SGX PCK Certificate and CRL Profile", OID
// 1.2.840.113741.1.13.1): a SEQUENCE of (OID, value) pairs
//   .1 PPID (OCTET STRING 16)   .2 TCB: SEQUENCE of (.2.1 .. .2.16 INTEGER: SGX TCB component
//   SVNs, .2.17 INTEGER: PCESVN, .2.18 OCTET STRING 16: CPUSVN)   .3 PCE-ID (OCTET STRING 2)
//   .4 FMSPC (OCTET STRING 6)   .5 SGX type (ENUMERATED)   .6, .7 (platform CA only; skipped)
// and the Intel SGX Root CA every PCK chain must end in, pinned in the binary (intel_root.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "attest/x509.hpp"
#include "base/error.hpp"

namespace veil::attest::dcap {

inline constexpr const char* kSgxExtensionOid = "1.2.840.113741.1.13.1";

struct PckExtension {
  std::string ppid;                    // 16 bytes
  std::array<uint8_t, 16> tcb_comp{};  // SGX TCB component SVNs 1..16
  uint16_t pce_svn = 0;
  std::string cpu_svn;  // 16 bytes
  std::string pce_id;   // 2 bytes
  std::string fmspc;    // 6 bytes
  int sgx_type = 0;     // 0 standard, 1 scalable, 2 scalable with integrity
};

// The extension's DER (the contents of its OCTET STRING); errors start with "pck-chain: ".
Result<PckExtension> parse_pck_extension(std::string_view der);
// The extension of a PCK certificate.
Result<PckExtension> pck_extension(X509* pck);

// Intel's SGX Root CA (CN=Intel SGX Root CA, serial 22650CD65A9D3489F383B49552BF501B392706AC,
// valid 2018-05-21 .. 2049-12-31, SHA-256 of the DER 44a0196b…b674d3) as PEM.
std::string_view intel_sgx_root_pem();

}  // namespace veil::attest::dcap
