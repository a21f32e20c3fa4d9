// The `tdx` and `sgx` verifiers: Intel DCAP ECDSA quotes, checked offline against Intel's SGX Root
// CA pinned in the binary (pck.hpp), with Intel PCS collateral when configured (collateral.hpp).
//
// Evidence:  {"format":"veil-tdx-v1","quote":b64url(quote),"cc_eventlog":b64url(CCEL)?}
//            {"format":"veil-sgx-v1","quote":b64url(quote)}
// Checks, in order, each error starting with its name: evidence (the JSON), quote (layout,
// version and TEE type for this verifier: v3 SGX, v4/v5 TDX), root (the chain's last certificate
// is byte for byte the pinned root), pck-chain (3 PEM certificates PCK -> PCK Platform/Processor
// CA -> root, signatures and validity at `at`, the PCK's SGX extension), qe-report (its ECDSA
// signature by the PCK key), qe-binding (SHA-256(attestation key || QE auth data) is the first
// 32 bytes of the QE report's report data, the rest zero), signature (ECDSA P-256 / SHA-256 by
// the attestation key over header [+ v5 body descriptor] + body), collateral (signatures, dates,
// FMSPC/PCE-ID, QE identity, TDX module; only with a collateral directory), tcb (no matching
// level, or Revoked: refused; other statuses become the claim tcb_status), ccel (TDX: the event
// log, when sent, replays to RTMR0..3 of the quote).
//
// Claims (hex lowercase, details flat):
//   tdx: measurement = MRTD, debug = TD_ATTRIBUTES bit 0 (TUD.DEBUG), svn = 0; details mr_td,
//        rtmr0..rtmr3, mr_config_id, mr_owner, mr_owner_config, mr_seam, mr_signer_seam,
//        td_attributes, xfam, tee_tcb_svn, report_data, quote_version, tcb_status, fmspc,
//        ccel_replayed
//   sgx: measurement = MRENCLAVE, debug = ATTRIBUTES bit 1 (DEBUG), svn = ISVSVN; details
//        mr_enclave, mr_signer, isv_prod_id, isv_svn, attributes, misc_select, cpu_svn,
//        report_data, quote_version, tcb_status, fmspc
// tcb_status: "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
// "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded", or "unknown"
// without collateral.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "attest/attest.hpp"
#include "attest/crypto.hpp"
#include "attest/dcap/cache.hpp"
#include "attest/dcap/ccel.hpp"
#include "attest/dcap/collateral.hpp"
#include "attest/dcap/pck.hpp"
#include "attest/dcap/quote.hpp"

namespace veil::attest::dcap {

inline constexpr const char* kTdxTee = "tdx";
inline constexpr const char* kSgxTee = "sgx";
inline constexpr const char* kTdxFormat = "veil-tdx-v1";
inline constexpr const char* kSgxFormat = "veil-sgx-v1";

struct Options {
  std::string collateral_dir;  // "" for none (tcb_status "unknown"); layout: load_collateral()
  int64_t at = 0;              // Unix seconds for certificate and collateral validity; 0: now
  std::string root_pem;        // TESTS AND FUZZING ONLY: a root in place of Intel's pinned one
};

// What a quote proved, before it becomes claims.
struct Verified {
  Quote quote;
  PckExtension pck;
  std::string tcb_status;  // a status_name(), or "unknown" without collateral
};

// A PCK chain that chained to the root, and when that holds.
struct VerifiedChain {
  PckExtension pck;
  crypto::Pkey pck_key;
  int64_t valid_from = 0, valid_until = 0;
};
// What a verifier keeps between quotes (cache.hpp): chains by their PEM bytes, collateral by
// its files' bytes.
struct Caches {
  CheckedCache<VerifiedChain> chains{1024};
  CheckedCache<Collateral> collateral{16};
};

// The checks shared by both verifiers (everything up to tcb; see the top of this file).
// `root` is the pinned root; `tee` kTeeTdx or kTeeSgx; `caches` (optional) skips re-checking a
// PCK chain or collateral already checked, within its validity.
Result<Verified> verify_quote(std::string_view quote, uint32_t tee, X509* root,
                              const Options& options, Caches* caches = nullptr);

class DcapVerifier : public Verifier {
 protected:
  explicit DcapVerifier(Options options);
  Result<Verified> check(std::string_view quote, uint32_t tee) const;
  Options options_;

 private:
  mutable Caches caches_;
  x509::Cert root_;
  std::string root_error_;  // why the root did not load (never expected for Intel's)
};

class TdxVerifier : public DcapVerifier {
 public:
  explicit TdxVerifier(Options options = {}) : DcapVerifier(std::move(options)) {}
  std::string tee() const override { return kTdxTee; }
  Result<Claims> verify_evidence(const json& evidence) override;
};

class SgxVerifier : public DcapVerifier {
 public:
  explicit SgxVerifier(Options options = {}) : DcapVerifier(std::move(options)) {}
  std::string tee() const override { return kSgxTee; }
  Result<Claims> verify_evidence(const json& evidence) override;
};

// Evidence JSON from raw files (`veil-kbs verify --evidence quote.dat`); nothing is checked here.
json tdx_evidence(std::string_view quote, std::string_view cc_eventlog = {});
json sgx_evidence(std::string_view quote);

}  // namespace veil::attest::dcap
