// The SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP Firmware ABI specification, "ATTESTATION_REPORT
// Structure"): 1184 bytes, little-endian, versions 2, 3 (adds the CPUID fields), 4 and 5 (adds the
// mitigation vectors). Bytes 0x000..0x29F are signed with ECDSA P-384/SHA-384 by the VCEK or VLEK;
// the signature follows at 0x2A0 (R and S, 72 bytes each, little-endian, then reserved zeros).
// Parsing checks only what the layout needs; reserved fields are not interpreted (they are signed).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::attest::snp {

inline constexpr size_t kReportSize = 1184;
inline constexpr size_t kSignedSize = 0x2A0;  // bytes covered by the signature
inline constexpr size_t kReportDataOffset = 0x50;
inline constexpr uint32_t kSigAlgoEcdsaP384Sha384 = 1;

enum class SigningKey : uint32_t { kVcek = 0, kVlek = 1, kNone = 7 };

// The AMD products (CPU families) with their own roots and TCB_VERSION layout.
enum class Product { kUnknown, kMilan, kGenoa, kTurin };
const char* product_name(Product p);               // "Milan", ...; "" for kUnknown
Product product_from_name(std::string_view name);  // "Milan" or "Milan-B0" -> kMilan
// From the report's CPUID_FAM_ID/CPUID_MOD_ID (version 3 and later; zeros before).
Product product_from_cpuid(uint8_t family, uint8_t model);

// A TCB_VERSION, decoded for a product: Milan and Genoa put the boot loader SVN in byte 0, TEE in
// 1, SNP in 6, microcode in 7; Turin adds FMC in byte 0 and moves the boot loader, TEE and SNP
// SVNs to bytes 1..3 (microcode stays in 7).
struct Tcb {
  uint8_t fmc = 0;  // Turin only
  uint8_t bootloader = 0, tee = 0, snp = 0, microcode = 0;
};
Tcb decode_tcb(uint64_t raw, Product p);

// Guest policy bits.
inline constexpr uint64_t kPolicySmt = 1ull << 16;
inline constexpr uint64_t kPolicyMigrateMa = 1ull << 18;
inline constexpr uint64_t kPolicyDebug = 1ull << 19;
inline constexpr uint64_t kPolicySingleSocket = 1ull << 20;

struct Report {
  uint32_t version = 0;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
  std::string family_id, image_id;  // 16 bytes each
  uint32_t vmpl = 0;
  uint32_t signature_algo = 0;
  uint64_t current_tcb = 0;  // raw TCB_VERSIONs (decode_tcb)
  uint64_t platform_info = 0;
  uint32_t flags = 0;             // bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY
  std::string report_data;        // 64
  std::string measurement;        // 48
  std::string host_data;          // 32
  std::string id_key_digest;      // 48
  std::string author_key_digest;  // 48
  std::string report_id, report_id_ma;  // 32 each
  uint64_t reported_tcb = 0;
  uint8_t cpuid_fam_id = 0, cpuid_mod_id = 0, cpuid_step = 0;  // version 3+
  std::string chip_id;  // 64; zeros when the host masks it (MASK_CHIP_ID)
  uint64_t committed_tcb = 0;
  uint8_t current_build = 0, current_minor = 0, current_major = 0;
  uint8_t committed_build = 0, committed_minor = 0, committed_major = 0;
  uint64_t launch_tcb = 0;
  uint64_t launch_mit_vector = 0, current_mit_vector = 0;  // version 5
  std::string sig_r, sig_s;  // 48 bytes each, big-endian (from the 72-byte little-endian fields)
  std::string signed_bytes;  // bytes 0x000..0x29F

  bool author_key_en() const { return flags & 1; }
  bool mask_chip_key() const { return flags & 2; }
  uint32_t signing_key() const { return (flags >> 2) & 7; }
  bool debug() const { return policy & kPolicyDebug; }
  bool has_cpuid() const { return version >= 3; }
  bool has_mit_vectors() const { return version >= 5; }
};

// Errors start with "report: " (wrong size, unknown version, unsupported signature algorithm,
// reserved signing key) or "signature: " (the parts of the signature field that must be zero
// are not: the high bytes of R and S, the reserved bytes after them).
Result<Report> parse_report(std::string_view bytes);

}  // namespace veil::attest::snp
