// SnpVerifier on real evidence (tests/data/tee/snp, from Trustee: a Milan chip's report with its
// VCEK, and a report from an AWS Milan host signed by a VLEK) and AMD's pinned roots: what it
// accepts, the claims it gives, and that every bit flip is refused by the right check.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "attest/crypto.hpp"
#include "attest/snp/verifier.hpp"
#include "base/file.hpp"
#include "snp_test_util.hpp"

using namespace veil;
using namespace veil::attest::snp;
using namespace snp_test;
using veil::attest::json;

namespace {

constexpr int64_t k2025June = 1748736000;  // the VLEK is valid 2024-12-10 .. 2025-12-10
constexpr int64_t k2026 = 1767225600;      // the VCEK is valid 2023-01-24 .. 2030-01-24
// (Real-data tests pin the time so that they keep passing after the certificates expire.)

// Evidence with the certificate filed as the VCEK whatever the report says (evidence_from files
// it by the report's SIGNING_KEY, which some tests flip).
json vcek_evidence(const std::string& report, const std::string& vcek) {
  json ev = evidence_from(report);
  ev["vcek"] = crypto::b64url(vcek);
  return ev;
}

// f(0) .. f(n-1) on two threads (the machine's cores; the verifier is shared, as in the KBS).
std::vector<std::string> parallel(size_t n, const std::function<std::string(size_t)>& f) {
  std::vector<std::string> out(n);
  auto run = [&](size_t from) {
    for (size_t i = from; i < n; i += 2) out[i] = f(i);
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  return out;
}

std::string hex_at(const std::string& b, size_t at, size_t n) {
  return crypto::hex(b.substr(at, n));
}

}  // namespace

TEST(SnpVerifier, RealVcekReportVerifiesWithThePinnedRoots) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  SnpVerifier v({.at = k2026});
  EXPECT_EQ(v.tee(), "snp");
  auto c = v.verify_evidence(evidence_from(report, vcek));
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->tee, "snp");
  EXPECT_FALSE(c->insecure);
  EXPECT_FALSE(c->debug);  // POLICY 0x3001f: bit 19 clear
  EXPECT_EQ(c->svn, 4);    // GUEST_SVN at 0x04
  EXPECT_EQ(c->measurement, hex_at(report, 0x90, 48));
  EXPECT_EQ(c->measurement.size(), 96u);
  EXPECT_EQ(c->report_data, report.substr(0x50, 64));
  const json& d = c->details;
  EXPECT_EQ(d["product"], "Milan");
  EXPECT_EQ(d["signing_key"], "vcek");
  EXPECT_EQ(d["version"], 2);
  EXPECT_EQ(d["vmpl"], 0);
  EXPECT_EQ(d["guest_svn"], 4);
  EXPECT_EQ(d["policy"], 0x3001f);
  EXPECT_EQ(d["policy.smt"], true);
  EXPECT_EQ(d["policy.debug"], false);
  EXPECT_EQ(d["policy.migrate_ma"], false);
  EXPECT_EQ(d["measurement"], c->measurement);
  EXPECT_EQ(d["report_data"], hex_at(report, 0x50, 64));
  EXPECT_EQ(d["host_data"], hex_at(report, 0xC0, 32));
  EXPECT_EQ(d["id_key_digest"], hex_at(report, 0xE0, 48));
  EXPECT_EQ(d["family_id"], hex_at(report, 0x10, 16));
  EXPECT_EQ(d["image_id"], hex_at(report, 0x20, 16));
  // The chip id is the VCEK's hwID (read here from the certificate, independently).
  auto cert = x509::from_der(vcek).value();
  auto hwid = x509::extension(cert.get(), "1.3.6.1.4.1.3704.1.4").value();
  EXPECT_EQ(d["chip_id"], crypto::hex(hwid));
  EXPECT_EQ(d["chip_id"], hex_at(report, 0x1A0, 64));
  // REPORTED_TCB equals the VCEK's SPL extensions: INTEGERs 3, 0, 8, 0x73.
  auto spl = [&](const char* oid) {
    std::string der = x509::extension(cert.get(), oid).value();
    return static_cast<uint8_t>(der.back());
  };
  EXPECT_EQ(d["reported_tcb.bootloader"], spl("1.3.6.1.4.1.3704.1.3.1"));
  EXPECT_EQ(d["reported_tcb.tee"], spl("1.3.6.1.4.1.3704.1.3.2"));
  EXPECT_EQ(d["reported_tcb.snp"], spl("1.3.6.1.4.1.3704.1.3.3"));
  EXPECT_EQ(d["reported_tcb.microcode"], spl("1.3.6.1.4.1.3704.1.3.8"));
  EXPECT_EQ(d["reported_tcb.microcode"], 0x73);
  EXPECT_FALSE(d.contains("reported_tcb.fmc"));
  for (const char* k : {"current_tcb.snp", "committed_tcb.snp", "launch_tcb.snp"})
    EXPECT_EQ(d[k], 8) << k;
  EXPECT_EQ(d["current_major"], 1);
  EXPECT_EQ(d["current_minor"], 0x34);
  EXPECT_EQ(d["current_build"], 4);

  // The binding (base class): the first 32 bytes of REPORT_DATA, the rest zero.
  EXPECT_TRUE(v.verify(evidence_from(report, vcek), report.substr(0x50, 32)));
  EXPECT_FALSE(v.verify(evidence_from(report, vcek), std::string(32, 'x')));
}

TEST(SnpVerifier, RealVlekReportVerifiesWhileTheVlekIsValid) {
  std::string report = data("test-vlek-report.bin"), vlek = data("test-vlek.der");
  json ev = evidence_from(report, vlek);
  EXPECT_TRUE(ev.contains("vlek"));
  EXPECT_FALSE(ev.contains("vcek"));
  SnpVerifier v({.at = k2025June});
  auto c = v.verify_evidence(ev);
  ASSERT_TRUE(c) << c.error().str();
  const json& d = c->details;
  EXPECT_EQ(d["signing_key"], "vlek");
  EXPECT_EQ(d["product"], "Milan");
  EXPECT_EQ(d["version"], 3);
  EXPECT_EQ(d["vmpl"], 1);
  EXPECT_EQ(d["reported_tcb.bootloader"], 4);
  EXPECT_EQ(d["reported_tcb.snp"], 0x18);
  EXPECT_EQ(d["reported_tcb.microcode"], 0xD9);  // the VLEK's ucodeSPL, INTEGER 02 02 00 D9
  EXPECT_EQ(d["cpuid_fam_id"], 0x19);
  EXPECT_EQ(d["cpuid_mod_id"], 1);
  EXPECT_EQ(c->measurement, hex_at(report, 0x90, 48));
  // The VLEK expired on 2025-12-10.
  auto late = SnpVerifier({.at = k2026}).verify_evidence(ev);
  EXPECT_TRUE(starts(err(late), "chain: VLEK not signed by the Milan ASVK")) << err(late);
  EXPECT_NE(err(late).find("expired"), std::string::npos) << err(late);
}

TEST(SnpVerifier, CertificateFromTheCollateralDirectory) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  json bare = evidence_from(report);
  EXPECT_FALSE(bare.contains("vcek"));
  EXPECT_TRUE(starts(err(SnpVerifier({.at = k2026}).verify_evidence(bare)), "collateral: "));
  TempDir dir;
  SnpVerifier v({.collateral_dir = dir.path, .at = k2026});
  auto missing = v.verify_evidence(bare);
  EXPECT_TRUE(starts(err(missing), "collateral: no VCEK for this report")) << err(missing);
  EXPECT_NE(err(missing).find("vcek-" + hex_at(report, 0x1A0, 64) + ".der"), std::string::npos);
  dir.put("vcek.der", vcek);
  EXPECT_TRUE(v.verify_evidence(bare)) << err(v.verify_evidence(bare));
  // The chip's own file is preferred over vcek.der.
  dir.put("vcek.der", data("test-vcek-invalid-new.der"));
  EXPECT_TRUE(starts(err(v.verify_evidence(bare)), "chain: "));
  dir.put("vcek-" + hex_at(report, 0x1A0, 64) + ".der", vcek);
  EXPECT_TRUE(v.verify_evidence(bare)) << err(v.verify_evidence(bare));
  // A VLEK-signed report looks for vlek.der.
  SnpVerifier at_2025({.collateral_dir = dir.path, .at = k2025June});
  json vlek_bare = evidence_from(data("test-vlek-report.bin"));
  EXPECT_TRUE(starts(err(at_2025.verify_evidence(vlek_bare)), "collateral: no VLEK"));
  dir.put("vlek.der", data("test-vlek.der"));
  EXPECT_TRUE(at_2025.verify_evidence(vlek_bare)) << err(at_2025.verify_evidence(vlek_bare));
  // A CRL that cannot be read is refused, not skipped.
  dir.put("amd.crl", "garbage");
  EXPECT_TRUE(starts(err(v.verify_evidence(bare)), "collateral: " + dir.path + "/amd.crl"));
  // A configured directory that does not exist.
  SnpVerifier gone({.collateral_dir = dir.path + "/none", .at = k2026});
  EXPECT_TRUE(starts(err(gone.verify_evidence(evidence_from(report, vcek))), "collateral: "));
}

TEST(SnpVerifier, EveryBitFlipInTheSignedBodyIsRefused) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  SnpVerifier v({.at = k2026});
  auto in = [](size_t off, size_t from, size_t n) { return off >= from && off < from + n; };
  auto results = parallel(kSignedSize * 8, [&](size_t bit) {
    std::string bad = report;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    return err(v.verify_evidence(vcek_evidence(bad, vcek)));
  });
  int refused = 0;
  for (size_t bit = 0; bit < results.size(); bit++) {
    const std::string& e = results[bit];
    size_t off = bit / 8;
    if (e == "accepted") continue;
    refused++;
    // VERSION, SIGNATURE_ALGO and the flags can make the report unparseable or unsigned
    // ("none", MASK_CHIP_KEY, or a VLEK the evidence does not carry); every other bit is the
    // signature's to catch.
    if (in(off, 0, 4) || in(off, 0x34, 4) || in(off, 0x48, 4))
      EXPECT_TRUE(starts(e, "report: ") || starts(e, "signature: ")) << "byte " << off << ": " << e;
    else
      EXPECT_EQ(e, "signature: report not signed by the VCEK") << "byte " << off;
  }
  EXPECT_EQ(refused, static_cast<int>(kSignedSize * 8));
}

TEST(SnpVerifier, EveryBitFlipInTheSignatureIsRefused) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  SnpVerifier v({.at = k2026});
  auto results = parallel((kReportSize - kSignedSize) * 8, [&](size_t i) {
    size_t bit = kSignedSize * 8 + i;
    std::string bad = report;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    return err(v.verify_evidence(vcek_evidence(bad, vcek)));
  });
  int refused = 0, tried = 0;
  for (size_t i = 0; i < results.size(); i++) {
    const std::string& e = results[i];
    size_t bit = kSignedSize * 8 + i;
    tried++;
    if (starts(e, "signature: "))
      refused++;
    else
      ADD_FAILURE() << "bit " << bit << ": " << e;
  }
  EXPECT_EQ(refused, tried);
  EXPECT_EQ(tried, static_cast<int>((kReportSize - kSignedSize) * 8));
}

TEST(SnpVerifier, EveryBitFlipInTheVcekIsRefused) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  SnpVerifier v({.at = k2026});
  auto results = parallel(vcek.size() * 8, [&](size_t bit) {
    std::string bad = vcek;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    return err(v.verify_evidence(evidence_from(report, bad)));
  });
  int refused = 0, parse = 0, chain = 0;
  for (size_t bit = 0; bit < results.size(); bit++) {
    const std::string& e = results[bit];
    if (starts(e, "certificate: ")) parse++;
    if (starts(e, "chain: ")) chain++;
    if (starts(e, "certificate: ") || starts(e, "chain: "))
      refused++;
    else
      ADD_FAILURE() << "bit " << bit << " (byte " << bit / 8 << "): " << e;
  }
  EXPECT_EQ(refused, static_cast<int>(vcek.size() * 8));
  EXPECT_GT(parse, 0);
  EXPECT_GT(chain, 0);
}

TEST(SnpVerifier, TrusteesInvalidVceksAreRefused) {
  // Both are the Milan VCEK format with the hwID replaced by 00 01 .. 3f (raw in the legacy one,
  // in a DER OCTET STRING in the new one): AMD's ASK signature no longer matches, and the hwID
  // is not this chip's.
  std::string report = data("test-report.bin");
  SnpVerifier v({.at = k2026});
  for (const char* name : {"test-vcek-invalid-legacy.der", "test-vcek-invalid-new.der"}) {
    std::string der = data(name);
    auto cert = x509::from_der(der);
    ASSERT_TRUE(cert) << name;
    std::string hwid = x509::extension(cert->get(), "1.3.6.1.4.1.3704.1.4").value();
    EXPECT_NE(hwid.find(std::string("\x00\x01\x02\x03", 4)), std::string::npos) << name;
    std::string e = err(v.verify_evidence(evidence_from(report, der)));
    EXPECT_TRUE(starts(e, "chain: VCEK not signed by the Milan ASK")) << name << ": " << e;
    EXPECT_NE(e.find("signature failure"), std::string::npos) << e;
  }
}

TEST(SnpVerifier, WrongRootsAreRefused) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  json ev = evidence_from(report, vcek);
  auto pem = [](const char* p) { return std::string(amd_roots_pem(p)); };
  // Milan's ASK under Genoa's ARK: the pinned roots themselves do not chain.
  {
    ProductRoots milan = product_roots("Milan", pem("Milan")).value();
    milan.ark = std::move(product_roots("Genoa", pem("Genoa")).value().ark);
    Roots roots;
    roots.push_back(std::move(milan));
    std::string e = err(SnpVerifier({.at = k2026}, std::move(roots)).verify_evidence(ev));
    EXPECT_TRUE(starts(e, "root: the pinned Milan ASK does not chain to the pinned Milan ARK"))
        << e;
  }
  // Genoa's ASK and ARK filed as Milan's: a consistent hierarchy that did not sign this VCEK.
  {
    Roots roots;
    roots.push_back(product_roots("Milan", pem("Genoa")).value());
    std::string e = err(SnpVerifier({.at = k2026}, std::move(roots)).verify_evidence(ev));
    EXPECT_TRUE(starts(e, "chain: VCEK not signed by the Milan ASK")) << e;
  }
  // No roots for the VCEK's product at all.
  {
    Roots roots;
    roots.push_back(product_roots("Genoa", pem("Genoa")).value());
    roots.push_back(product_roots("Turin", pem("Turin")).value());
    EXPECT_EQ(err(SnpVerifier({.at = k2026}, std::move(roots)).verify_evidence(ev)),
              "root: no pinned AMD roots for Milan");
  }
}

TEST(SnpVerifier, UnsignedAndMalformedReportsAreRefused) {
  std::string report = data("test-report.bin"), vcek = data("test-vcek.der");
  SnpVerifier v({.at = k2026});
  auto with = [&](size_t off, char byte) {
    std::string b = report;
    b[off] = byte;
    return err(v.verify_evidence(vcek_evidence(b, vcek)));
  };
  EXPECT_EQ(err(v.verify_evidence(evidence_from(report.substr(0, 1000), vcek))),
            "report: truncated (1000 of 1184 bytes)");
  EXPECT_TRUE(
      starts(err(v.verify_evidence(evidence_from(report + "x", vcek))), "report: oversized"));
  EXPECT_TRUE(starts(with(0, 1), "report: unknown version 1"));
  EXPECT_TRUE(starts(with(0, 6), "report: unknown version 6"));
  EXPECT_TRUE(starts(with(0x34, 2), "report: unsupported signature algorithm 2"));
  EXPECT_EQ(with(0x48, 7 << 2), "signature: the report is not signed (its signing key is 'none')");
  EXPECT_TRUE(starts(with(0x48, 2), "signature: MASK_CHIP_KEY is set"));
  EXPECT_EQ(with(0x48, 3 << 2), "report: reserved signing key 3");
  // A report that says the VLEK signed it, with a VCEK in the evidence.
  EXPECT_TRUE(starts(with(0x48, 1 << 2), "signature: the report says the VLEK signed it"));
}

TEST(SnpVerifier, EvidenceJsonIsChecked) {
  SnpVerifier v({.at = k2026});
  std::string report = data("test-report.bin");
  auto e = [&](const json& j) { return err(v.verify_evidence(j)); };
  EXPECT_EQ(e(json::array()), "evidence: not a JSON object");
  EXPECT_EQ(e(json{{"format", "veil-tpm-v1"}}), "evidence: format is not veil-snp-v1");
  EXPECT_EQ(e(json{{"format", "veil-snp-v1"}}), "evidence: missing 'report'");
  EXPECT_EQ(e(json{{"format", "veil-snp-v1"}, {"report", 5}}),
            "evidence: 'report' is not a string");
  EXPECT_TRUE(starts(e(json{{"format", "veil-snp-v1"}, {"report", "a+b/"}}),
                     "evidence: 'report' is not base64url"));
  json ev = evidence_from(report);
  ev["vcek"] = json::array();
  EXPECT_EQ(e(ev), "evidence: 'vcek' is not a string");
  ev["vcek"] = "***";
  EXPECT_EQ(e(ev), "evidence: 'vcek' is not base64url");
  ev["vcek"] = crypto::b64url("not DER");
  EXPECT_TRUE(starts(e(ev), "certificate: VCEK: ")) << e(ev);
}
