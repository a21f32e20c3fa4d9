// FOR TESTS AND FUZZING ONLY: a self-made AMD-like certificate hierarchy (ARK -> ASK -> VCEK,
// ARK -> ASVK -> VLEK, with AMD's VCEK extensions) and reports signed the way the AMD secure
// processor signs them, so tests reach every check past the signature with crafted reports.
// (Nothing in veil-kbs calls this; the static library leaves it out of the binary.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attest/crypto.hpp"
#include "attest/snp/report.hpp"
#include "attest/snp/roots.hpp"
#include "attest/x509.hpp"

namespace veil::attest::snp::testing {

struct Issuer {
  crypto::Pkey key;
  x509::Cert cert;
};

// ARK (self-signed), ASK and ASVK (signed by the ARK), all EC P-384, valid 2000..2099.
struct Hierarchy {
  std::string product;  // "Milan", ...
  Issuer ark, ask, asvk;
  // As the verifier's roots (certificates shared, not copied).
  ProductRoots roots() const;
};
Result<Hierarchy> make_hierarchy(const std::string& product, const std::string& cn_prefix = "");

struct LeafSpec {
  bool vlek = false;                   // signed by the ASVK (else the ASK)
  std::string product_name = "Milan";  // productName extension; "" for none
  Tcb tcb;                             // blSPL, teeSPL, snpSPL, ucodeSPL (+ fmcSPL if with_fmc)
  bool with_fmc = false;
  std::string hwid;                // hwID extension value bytes; "" for none
  bool hwid_octet_string = false;  // wrap it in a DER OCTET STRING (AMD's newer form)
  int64_t not_before = 946684800;  // 2000-01-01
  int64_t not_after = 4102444800;  // 2100-01-01
  long serial = 1000;
  EVP_PKEY* key = nullptr;  // the leaf's key pair (shared); null: a new one
  // Instead of the extensions above (fuzzing): (dotted OID, extension value bytes) as given.
  std::optional<std::vector<std::pair<std::string, std::string>>> raw_extensions;
};
Result<Issuer> make_leaf(const Hierarchy& h, const LeafSpec& spec);

// A CRL by `issuer` revoking these serial numbers (DER).
Result<std::string> make_crl(const Issuer& issuer, const std::vector<long>& serials);

// TCB_VERSION bytes for a product (the inverse of decode_tcb).
uint64_t encode_tcb(const Tcb& t, Product p);

// A version-`version` report with these fields set (everything else zero), not yet signed.
struct ReportSpec {
  uint32_t version = 3;
  uint64_t policy = 0x30000;  // SMT allowed, reserved bit 17 set
  uint32_t guest_svn = 1;
  uint32_t flags = 0;  // signing key VCEK
  uint64_t reported_tcb = 0;
  std::string chip_id;  // 64 bytes or ""
  std::string measurement, report_data, host_data;
  uint8_t cpuid_fam = 0, cpuid_mod = 0, cpuid_step = 0;
};
std::string make_report(const ReportSpec& spec);
// Writes R and S of an ECDSA P-384/SHA-384 signature over bytes 0x000..0x29F.
Result<std::string> sign_report(std::string report, EVP_PKEY* key);

}  // namespace veil::attest::snp::testing
