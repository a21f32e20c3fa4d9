#include "attest/snp/report.hpp"

#include <algorithm>

#include "attest/bytes.hpp"

namespace veil::attest::snp {
namespace {

// A 72-byte little-endian signature component as 48 big-endian bytes; false when the 24 bytes
// above P-384's size are not zero.
bool component(std::string_view field72, std::string* out) {
  if (field72.substr(48).find_first_not_of('\0') != std::string_view::npos) return false;
  out->assign(field72.substr(0, 48));
  std::reverse(out->begin(), out->end());
  return true;
}

}  // namespace

const char* product_name(Product p) {
  switch (p) {
    case Product::kMilan:
      return "Milan";
    case Product::kGenoa:
      return "Genoa";
    case Product::kTurin:
      return "Turin";
    case Product::kUnknown:
      break;
  }
  return "";
}

Product product_from_name(std::string_view name) {
  name = name.substr(0, name.find('-'));  // "Milan-B0": the stepping does not matter
  for (Product p : {Product::kMilan, Product::kGenoa, Product::kTurin})
    if (name == product_name(p)) return p;
  return Product::kUnknown;
}

Product product_from_cpuid(uint8_t family, uint8_t model) {
  // Family 19h: Milan models 00h..0Fh, Genoa (and its Bergamo/Siena variants) 10h..1Fh and
  // A0h..AFh; family 1Ah: Turin models 00h..1Fh.
  if (family == 0x19 && model <= 0x0F) return Product::kMilan;
  if (family == 0x19 && ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF)))
    return Product::kGenoa;
  if (family == 0x1A && model <= 0x1F) return Product::kTurin;
  return Product::kUnknown;
}

Tcb decode_tcb(uint64_t raw, Product p) {
  auto byte = [raw](int i) { return static_cast<uint8_t>(raw >> (8 * i)); };
  Tcb t;
  if (p == Product::kTurin) {
    t.fmc = byte(0);
    t.bootloader = byte(1);
    t.tee = byte(2);
    t.snp = byte(3);
  } else {
    t.bootloader = byte(0);
    t.tee = byte(1);
    t.snp = byte(6);
  }
  t.microcode = byte(7);
  return t;
}

Result<Report> parse_report(std::string_view b) {
  if (b.size() < kReportSize)
    return fail("report: truncated (" + std::to_string(b.size()) + " of " +
                std::to_string(kReportSize) + " bytes)");
  if (b.size() > kReportSize)
    return fail("report: oversized (" + std::to_string(b.size()) + " bytes, expected " +
                std::to_string(kReportSize) + ")");
  Report r;
  r.version = le(b, 0x00, 4);
  if (r.version < 2 || r.version > 5)
    return fail("report: unknown version " + std::to_string(r.version) +
                " (supported: 2, 3, 4, 5)");
  r.signature_algo = le(b, 0x34, 4);
  if (r.signature_algo != kSigAlgoEcdsaP384Sha384)
    return fail("report: unsupported signature algorithm " + std::to_string(r.signature_algo) +
                " (only 1, ECDSA P-384 with SHA-384)");
  r.flags = le(b, 0x48, 4);
  uint32_t key = r.signing_key();
  if (key != static_cast<uint32_t>(SigningKey::kVcek) &&
      key != static_cast<uint32_t>(SigningKey::kVlek) &&
      key != static_cast<uint32_t>(SigningKey::kNone))
    return fail("report: reserved signing key " + std::to_string(key));

  r.guest_svn = le(b, 0x04, 4);
  r.policy = le(b, 0x08, 8);
  r.family_id = b.substr(0x10, 16);
  r.image_id = b.substr(0x20, 16);
  r.vmpl = le(b, 0x30, 4);
  r.current_tcb = le(b, 0x38, 8);
  r.platform_info = le(b, 0x40, 8);
  r.report_data = b.substr(kReportDataOffset, 64);
  r.measurement = b.substr(0x90, 48);
  r.host_data = b.substr(0xC0, 32);
  r.id_key_digest = b.substr(0xE0, 48);
  r.author_key_digest = b.substr(0x110, 48);
  r.report_id = b.substr(0x140, 32);
  r.report_id_ma = b.substr(0x160, 32);
  r.reported_tcb = le(b, 0x180, 8);
  if (r.has_cpuid()) {
    r.cpuid_fam_id = b[0x188];
    r.cpuid_mod_id = b[0x189];
    r.cpuid_step = b[0x18A];
  }
  r.chip_id = b.substr(0x1A0, 64);
  r.committed_tcb = le(b, 0x1E0, 8);
  r.current_build = b[0x1E8];
  r.current_minor = b[0x1E9];
  r.current_major = b[0x1EA];
  r.committed_build = b[0x1EC];
  r.committed_minor = b[0x1ED];
  r.committed_major = b[0x1EE];
  r.launch_tcb = le(b, 0x1F0, 8);
  if (r.has_mit_vectors()) {
    r.launch_mit_vector = le(b, 0x1F8, 8);
    r.current_mit_vector = le(b, 0x200, 8);
  }
  // The signature: R at 0x2A0, S at 0x2E8, 72 bytes each; the rest of the 512 bytes is reserved.
  // None of it is signed, so nothing but R and S may be there.
  if (!component(b.substr(0x2A0, 72), &r.sig_r) || !component(b.substr(0x2E8, 72), &r.sig_s))
    return fail("signature: R or S is larger than a P-384 value");
  if (b.substr(0x330).find_first_not_of('\0') != std::string_view::npos)
    return fail("signature: non-zero bytes in the signature's reserved area (0x330..0x49F)");
  r.signed_bytes = b.substr(0, kSignedSize);
  return r;
}

}  // namespace veil::attest::snp
