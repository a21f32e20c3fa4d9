// Intel DCAP ECDSA quotes (Intel's "SGX ECDSA Quote Library API" and "TDX DCAP Quoting Library
// API"): SGX quote v3 with an SGX enclave report body, TDX quote v4 with a TD report 1.0 body and
// TDX quote v5 with a body descriptor and a TD report 1.0 or 1.5 body. Only the layout is checked
// here (sizes, types, that every length adds up); signatures and chains are verifier.cpp's.
//
//   header (48)  version u16, att_key_type u16 (2: ECDSA P-256), tee_type u32 (0 SGX, 0x81 TDX),
//                reserved/QE-PCE SVNs (4), QE vendor ID (16), user data (20)
//   v5 only      body type u16 (2: TD report 1.0, 3: TD report 1.5), body size u32
//   body         SGX enclave report (384) | TD report 1.0 (584) | TD report 1.5 (648)
//   u32 length of the signature data, then:
//     ECDSA signature (64: r||s) over header [+ v5 descriptor] + body, attestation key (64: x||y)
//     v4/v5: certification data type u16 = 6 (QE report certification data), size u32, holding:
//     QE report (384), its signature (64) by the PCK key, QE auth data (u16 size + bytes),
//     certification data type u16 = 5 (PCK certificate chain, PEM), size u32, the PEM text
//     (v3 has the QE report directly after the attestation key, without the type-6 wrapper).
// Integers are little-endian. Bytes after the quote must be zero (a driver's buffer padding).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::attest::dcap {

inline constexpr uint32_t kTeeSgx = 0x00000000;
inline constexpr uint32_t kTeeTdx = 0x00000081;
inline constexpr uint16_t kAttKeyEcdsaP256 = 2;
inline constexpr size_t kHeaderSize = 48;
inline constexpr size_t kEnclaveReportSize = 384;
inline constexpr size_t kTdReport10Size = 584;
inline constexpr size_t kTdReport15Size = 648;
inline constexpr uint16_t kBodySgx = 1;
inline constexpr uint16_t kBodyTd10 = 2;
inline constexpr uint16_t kBodyTd15 = 3;
// Intel's quoting enclave vendor ID (the only one this verifier accepts).
inline constexpr std::string_view kIntelQeVendorId =
    "\x93\x9a\x72\x33\xf7\x9c\x4c\xa9\x94\x0a\x0d\xb3\x95\x7f\x06\x07";
// Largest quote accepted (real ones are about 5 KiB, most of it the PEM chain).
inline constexpr size_t kMaxQuoteSize = 1 << 20;

// An SGX REPORT body: the SGX quote's body and the QE report.
struct EnclaveReport {
  std::string raw;           // the 384 bytes as signed
  std::string cpu_svn;       // [0, 16)
  std::string misc_select;   // [16, 20), as stored (little-endian)
  std::string attributes;    // [48, 64): flags (8, little-endian) then XFRM (8)
  std::string mr_enclave;    // [64, 96)
  std::string mr_signer;     // [128, 160)
  uint16_t isv_prod_id = 0;  // [256, 258)
  uint16_t isv_svn = 0;      // [258, 260)
  std::string report_data;   // [320, 384)
};
EnclaveReport parse_enclave_report(std::string_view raw384);

// A TD report body (TDREPORT's TDINFO and TEE_TCB_SVN, as the quote carries it).
struct TdReport {
  std::string raw;                  // 584 or 648 bytes as signed
  std::string tee_tcb_svn;          // [0, 16)
  std::string mr_seam;              // [16, 64)
  std::string mr_signer_seam;       // [64, 112)
  std::string seam_attributes;      // [112, 120)
  std::string td_attributes;        // [120, 128), little-endian; bit 0 TUD.DEBUG
  std::string xfam;                 // [128, 136)
  std::string mr_td;                // [136, 184)
  std::string mr_config_id;         // [184, 232)
  std::string mr_owner;             // [232, 280)
  std::string mr_owner_config;      // [280, 328)
  std::array<std::string, 4> rtmr;  // [328, 520), 48 bytes each
  std::string report_data;          // [520, 584)
  std::string tee_tcb_svn2;         // TD report 1.5 only: [584, 600)
  std::string mr_servicetd;         // TD report 1.5 only: [600, 648)
};
TdReport parse_td_report(std::string_view raw);  // 584 or 648 bytes

struct Quote {
  uint16_t version = 0;
  uint32_t tee_type = 0;
  uint16_t body_type = 0;   // kBodySgx (v3), kBodyTd10 (v4, v5), kBodyTd15 (v5)
  std::string header;       // the 48 header bytes
  std::string signed_part;  // header [+ v5 body descriptor] + body: what the attestation key signs
  std::optional<EnclaveReport> enclave;  // SGX quotes
  std::optional<TdReport> td;            // TDX quotes
  std::string signature;                 // 64 bytes: r || s, big-endian
  std::string attest_key;                // 64 bytes: x || y of the P-256 attestation key
  EnclaveReport qe_report;
  std::string qe_report_signature;  // 64 bytes: r || s, by the PCK certificate's key
  std::string qe_auth_data;
  std::string pck_chain;  // certification data type 5: PEM text (PCK, CA, root), as carried
  size_t length = 0;      // bytes the quote uses (anything after it was zero padding)

  bool tdx() const { return tee_type == kTeeTdx; }
  const std::string& report_data() const { return td ? td->report_data : enclave->report_data; }
};

// Parses and checks the layout; every error starts with "quote: ".
Result<Quote> parse_quote(std::string_view bytes);

}  // namespace veil::attest::dcap
