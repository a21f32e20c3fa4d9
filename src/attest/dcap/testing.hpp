// FOR TESTS AND FUZZING ONLY: a self-made Intel-like PKI (root -> PCK CA -> PCK certificate with
// an SGX extension, root -> SGX TCB Signing certificate), TDX and SGX quotes signed the way the
// quoting enclave signs them, and PCS collateral files signed like Intel's, so tests and the
// fuzzer reach every check (TCB levels, TDX module, QE identity, Revoked, CCEL replay) that the
// real vectors cannot. Certificates are valid kNotBefore..kNotAfter. (Nothing in veil-kbs calls
// this; the static library leaves it out of the binary.) OpenSSL failures abort.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "attest/crypto.hpp"
#include "attest/dcap/verifier.hpp"
#include "attest/x509.hpp"

namespace veil::attest::dcap::testing {

inline constexpr int64_t kNotBefore = 1700000000;  // 2023-11-14
inline constexpr int64_t kNotAfter = 2100000000;   // 2036-07-18

// The PCK certificate's platform TCB (SGX extension values).
struct PckTcb {
  std::string fmspc = std::string("\x00\xa0\x6d\x08\x00\x00", 6);
  std::string pce_id = std::string(2, '\0');
  std::array<uint8_t, 16> comp{2, 2, 7, 7, 4, 1, 0, 2};
  uint16_t pce_svn = 11;
};
// The SGX extension's DER for `t` (PPID 16 x 0x42, SGX type 0).
std::string sgx_extension(const PckTcb& t);

// The TD report fields a test sets (the rest: MRSEAM 48 x 0x22, XFAM e702060000000000).
struct TdParams {
  std::string tee_tcb_svn = std::string("\x05\x03\x02", 3) + std::string(13, '\0');
  std::string mr_signer_seam = std::string(48, '\0');
  std::string seam_attributes = std::string(8, '\0');
  std::string td_attributes = std::string(8, '\0');
  std::string mr_td = std::string(48, '\x11');
  std::array<std::string, 4> rtmr{std::string(48, '\0'), std::string(48, '\0'),
                                  std::string(48, '\0'), std::string(48, '\0')};
  std::string report_data = std::string(64, '\0');
  int version = 4;  // 4, or 5 (TD report 1.0, or 1.5 with td15)
  bool td15 = false;
};

// The QE report fields (defaults: Intel's TD QE as in tdx_quote_6.dat).
struct QeParams {
  uint16_t isv_svn = 7;
  uint16_t isv_prod_id = 2;
  std::string mr_signer;   // "": Intel's TD QE MRSIGNER dc9e2a7c…
  std::string attributes;  // "": 1500000000000000e700000000000000
};

// ECDSA P-256 / SHA-256 as raw r || s; a P-256 key's x || y.
std::string sign_raw(EVP_PKEY* key, std::string_view msg);
std::string raw_public(EVP_PKEY* key);
std::string pem(X509* cert);

class Pki {
 public:
  explicit Pki(const PckTcb& tcb = {});
  std::string root_pem() const { return pem(root_.get()); }
  // Another certificate for the same root name and key (as Intel reissued its root).
  std::string reissued_root_pem() const;
  std::string chain_pem() const;          // PCK, CA, root: what a quote carries
  std::string signing_chain_pem() const;  // TCB Signing, root: tcb_signing_chain.pem
  X509* root() const { return root_.get(); }
  X509* ca() const { return ca_.get(); }
  // Options with this root pinned, at `at`.
  Options options(const std::string& collateral_dir, int64_t at) const;

  // A TDX quote (v4, or v5 per p.version) of a TD report built from `p`; `body` when not empty
  // replaces the whole TD report (584 or 648 bytes).
  std::string tdx_quote(const TdParams& p = {}, const QeParams& qe = {},
                        std::string_view body = {}) const;
  // An SGX v3 quote (MRENCLAVE 32 x 0x33 unless `body`, 384 bytes, is given).
  std::string sgx_quote(const QeParams& qe = {}, std::string_view body = {}) const;
  // A PCS file {"<key>":<body.dump()>,"signature":hex} signed with the TCB signing key.
  std::string signed_file(const char* key, const nlohmann::json& body) const;

 private:
  std::string qe_certification(const QeParams& qe) const;
  crypto::Pkey root_key_, ca_key_, pck_key_, tcb_key_, ak_;
  x509::Cert root_, ca_, pck_, tcb_;
};

// TDX evidence from `pki`: a quote of a TD report built from `params` with the report data asked
// for (the 32 bytes, then zeros). The PKI must outlive the attester.
class TdxAttester : public Attester {
 public:
  explicit TdxAttester(const Pki& pki, TdParams params = {})
      : pki_(pki), params_(std::move(params)) {}
  std::string tee() const override { return kTdxTee; }
  Result<json> evidence(std::string_view report_data) override;

 private:
  const Pki& pki_;
  TdParams params_;
};

}  // namespace veil::attest::dcap::testing
