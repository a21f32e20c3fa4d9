// The SEV-SNP report parser and the embedded AMD roots, on the real reports in tests/data/tee/snp
// (fields cross-checked by reading the bytes at the offsets of AMD's ATTESTATION_REPORT table).
#include <gtest/gtest.h>

#include "attest/snp/report.hpp"
#include "attest/snp/roots.hpp"
#include "base/file.hpp"
#include "snp_test_util.hpp"

using namespace veil;
using namespace veil::attest::snp;
using namespace snp_test;

namespace {

uint64_t le(const std::string& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

}  // namespace

TEST(SnpReport, RealVcekReportFieldsAtTheirOffsets) {
  std::string raw = data("test-report.bin");
  auto r = parse_report(raw);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->guest_svn, le(raw, 0x04, 4));
  EXPECT_EQ(r->policy, 0x3001full);  // ABI 0.31, SMT allowed, reserved bit 17, no DEBUG
  EXPECT_FALSE(r->debug());
  EXPECT_EQ(r->vmpl, 0u);
  EXPECT_EQ(r->signing_key(), 0u);  // VCEK
  EXPECT_FALSE(r->mask_chip_key());
  EXPECT_EQ(r->measurement, raw.substr(0x90, 48));
  EXPECT_EQ(r->report_data, raw.substr(0x50, 64));
  EXPECT_EQ(r->chip_id, raw.substr(0x1A0, 64));
  EXPECT_EQ(r->reported_tcb, le(raw, 0x180, 8));
  Tcb t = decode_tcb(r->reported_tcb, Product::kMilan);
  EXPECT_EQ(t.bootloader, 3);  // the VCEK's blSPL, teeSPL, snpSPL, ucodeSPL: 3, 0, 8, 0x73
  EXPECT_EQ(t.tee, 0);
  EXPECT_EQ(t.snp, 8);
  EXPECT_EQ(t.microcode, 0x73);
  EXPECT_EQ(r->signed_bytes, raw.substr(0, 0x2A0));
  // R and S come out big-endian: the report stores them little-endian.
  std::string r_le = raw.substr(0x2A0, 48);
  EXPECT_EQ(r->sig_r, std::string(r_le.rbegin(), r_le.rend()));
  EXPECT_FALSE(r->has_cpuid());
}

TEST(SnpReport, RealVlekReportIsVersion3WithCpuid) {
  std::string raw = data("test-vlek-report.bin");
  auto r = parse_report(raw);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->version, 3u);
  EXPECT_EQ(r->signing_key(), 1u);  // VLEK
  EXPECT_EQ(r->vmpl, 1u);
  EXPECT_EQ(r->cpuid_fam_id, 0x19);
  EXPECT_EQ(r->cpuid_mod_id, 0x01);
  EXPECT_EQ(r->cpuid_step, 0x01);
  EXPECT_EQ(product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id), Product::kMilan);
  Tcb t = decode_tcb(r->reported_tcb, Product::kMilan);
  EXPECT_EQ(t.bootloader, 4);  // the VLEK's: 4, 0, 0x18, 0xD9
  EXPECT_EQ(t.snp, 0x18);
  EXPECT_EQ(t.microcode, 0xD9);
}

TEST(SnpReport, SizeVersionAlgorithmAndSigningKeyChecks) {
  std::string raw = data("test-report.bin");
  auto err = [](const std::string& b) {
    auto r = parse_report(b);
    return r ? std::string("accepted") : r.error().str();
  };
  EXPECT_EQ(err(raw.substr(0, 1000)), "report: truncated (1000 of 1184 bytes)");
  EXPECT_EQ(err(""), "report: truncated (0 of 1184 bytes)");
  EXPECT_EQ(err(raw + '\0'), "report: oversized (1185 bytes, expected 1184)");
  for (int v : {0, 1, 6, 255}) {
    std::string b = raw;
    b[0] = static_cast<char>(v);
    EXPECT_EQ(err(b).rfind("report: unknown version " + std::to_string(v), 0), 0u) << err(b);
  }
  for (int v : {2, 3, 4, 5}) {
    std::string b = raw;
    b[0] = static_cast<char>(v);
    EXPECT_EQ(err(b), "accepted") << v;
  }
  std::string algo = raw;
  algo[0x34] = 2;
  EXPECT_EQ(err(algo).rfind("report: unsupported signature algorithm 2", 0), 0u);
  for (int key = 2; key <= 6; key++) {
    std::string b = raw;
    b[0x48] = static_cast<char>(key << 2);
    EXPECT_EQ(err(b), "report: reserved signing key " + std::to_string(key));
  }
  std::string none = raw;
  none[0x48] = 7 << 2;
  auto parsed = parse_report(none);  // a valid report; the verifier refuses it
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->signing_key(), 7u);
  // Only R and S may be in the signature field.
  std::string high = raw;
  high[0x2A0 + 60] = 1;
  EXPECT_EQ(err(high).rfind("signature: ", 0), 0u);
  std::string tail = raw;
  tail[0x400] = 1;
  EXPECT_EQ(err(tail).rfind("signature: ", 0), 0u);
}

TEST(SnpReport, TcbLayoutsPerProduct) {
  uint64_t raw = 0x0807060504030201ull;
  Tcb milan = decode_tcb(raw, Product::kMilan);
  EXPECT_EQ(milan.bootloader, 1);
  EXPECT_EQ(milan.tee, 2);
  EXPECT_EQ(milan.snp, 7);
  EXPECT_EQ(milan.microcode, 8);
  Tcb genoa = decode_tcb(raw, Product::kGenoa);
  EXPECT_EQ(genoa.snp, 7);
  Tcb turin = decode_tcb(raw, Product::kTurin);
  EXPECT_EQ(turin.fmc, 1);
  EXPECT_EQ(turin.bootloader, 2);
  EXPECT_EQ(turin.tee, 3);
  EXPECT_EQ(turin.snp, 4);
  EXPECT_EQ(turin.microcode, 8);
}

TEST(SnpReport, ProductNamesAndCpuid) {
  EXPECT_EQ(product_from_name("Milan-B0"), Product::kMilan);
  EXPECT_EQ(product_from_name("Genoa"), Product::kGenoa);
  EXPECT_EQ(product_from_name("Turin-C1"), Product::kTurin);
  EXPECT_EQ(product_from_name("Milano"), Product::kUnknown);
  EXPECT_EQ(product_from_name(""), Product::kUnknown);
  EXPECT_EQ(product_from_cpuid(0x19, 0x01), Product::kMilan);
  EXPECT_EQ(product_from_cpuid(0x19, 0x11), Product::kGenoa);
  EXPECT_EQ(product_from_cpuid(0x19, 0xA0), Product::kGenoa);
  EXPECT_EQ(product_from_cpuid(0x1A, 0x02), Product::kTurin);
  EXPECT_EQ(product_from_cpuid(0, 0), Product::kUnknown);
  EXPECT_EQ(product_from_cpuid(0x17, 0x31), Product::kUnknown);  // Rome: no SNP
}

TEST(SnpRoots, EmbeddedRootsAreAmdsFilesByteForByte) {
  for (std::string p : {"Milan", "Genoa", "Turin"}) {
    std::string lower = p;
    lower[0] = static_cast<char>(lower[0] - 'A' + 'a');
    EXPECT_EQ(amd_roots_pem(p), data(lower + "_ask_ark_asvk.pem")) << p;
  }
  EXPECT_EQ(amd_roots_pem("Rome"), "");
  auto roots = amd_roots();
  ASSERT_TRUE(roots) << roots.error().str();
  ASSERT_EQ(roots->size(), 3u);
  for (const auto& r : *roots) {
    EXPECT_NE(x509::subject(r.ark.get()).find("CN=ARK-" + r.product), std::string::npos);
    EXPECT_NE(x509::subject(r.ask.get()).find("CN=SEV-" + r.product), std::string::npos);
    ASSERT_TRUE(r.asvk);
    EXPECT_NE(x509::subject(r.asvk.get()).find("CN=SEV-VLEK-" + r.product), std::string::npos);
    // Each ASK and ASVK is signed by its own ARK, at a time they are all valid.
    EXPECT_TRUE(x509::verify_chain(r.ask.get(), {}, {r.ark.get()}, 1767225600));
    EXPECT_TRUE(x509::verify_chain(r.asvk.get(), {}, {r.ark.get()}, 1767225600));
  }
  EXPECT_FALSE(product_roots("Milan", "not pem"));
}
