// SnpVerifier past the signature, on a self-made AMD-like hierarchy (ARK -> ASK -> VCEK and
// ARK -> ASVK -> VLEK, EC P-384, with AMD's VCEK extensions) and crafted reports signed the way
// the AMD secure processor signs them: policy, TCB, chip id, VLEK, validity, CRLs, Turin.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "attest/crypto.hpp"
#include "attest/snp/testing.hpp"
#include "attest/snp/verifier.hpp"
#include "base/file.hpp"
#include "snp_test_util.hpp"

using namespace veil;
using namespace veil::attest::snp;
using namespace snp_test;
using namespace veil::attest::snp::testing;
using veil::attest::json;

namespace {

constexpr int64_t k2024 = 1704067200;

std::string chip(char fill) {
  std::string id(64, fill);
  id[0] = 0x5a;
  return id;
}

class SnpChain : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = make_hierarchy("Milan");
    ASSERT_TRUE(h) << h.error().str();
    milan = std::move(*h);
    tcb = {.fmc = 0, .bootloader = 2, .tee = 0, .snp = 9, .microcode = 100};
    auto v = make_leaf(milan, {.tcb = tcb, .hwid = chip('c')});
    ASSERT_TRUE(v) << v.error().str();
    vcek = std::move(*v);
  }

  Roots roots() const {
    Roots r;
    r.push_back(milan.roots());
    return r;
  }
  ReportSpec spec() const {
    return {.reported_tcb = encode_tcb(tcb, Product::kMilan),
            .chip_id = chip('c'),
            .measurement = std::string(48, 'm'),
            .report_data = std::string(32, 'r'),
            .host_data = std::string(32, 'h')};
  }
  std::string signed_report(const ReportSpec& s, EVP_PKEY* key) const {
    return sign_report(make_report(s), key).value();
  }
  json evidence(const ReportSpec& s) const {
    return evidence_from(signed_report(s, vcek.key.get()), x509::der(vcek.cert.get()));
  }
  veil::Result<veil::attest::Claims> verify(const json& ev, Options o = {}) const {
    return SnpVerifier(o, roots()).verify_evidence(ev);
  }

  Hierarchy milan;
  Tcb tcb;
  Issuer vcek;
};

}  // namespace

TEST_F(SnpChain, CraftedReportVerifiesAndPolicyDebugIsTheDebugClaim) {
  auto c = verify(evidence(spec()));
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_FALSE(c->debug);
  EXPECT_EQ(c->measurement, crypto::hex(std::string(48, 'm')));
  EXPECT_EQ(c->details["host_data"], crypto::hex(std::string(32, 'h')));
  EXPECT_EQ(c->details["report_data"], crypto::hex(std::string(32, 'r') + std::string(32, '\0')));
  EXPECT_EQ(c->details["chip_id"], crypto::hex(chip('c')));
  EXPECT_EQ(c->details["reported_tcb.snp"], 9);
  EXPECT_EQ(c->details["reported_tcb.microcode"], 100);
  EXPECT_EQ(c->details["policy.debug"], false);
  EXPECT_EQ(c->details["policy.smt"], true);
  EXPECT_EQ(c->details["version"], 3);
  EXPECT_EQ(c->svn, 1);
  // The binding: 32 bytes then zeros.
  EXPECT_TRUE(SnpVerifier({}, roots()).verify(evidence(spec()), std::string(32, 'r')));

  ReportSpec debug = spec();
  debug.policy |= kPolicyDebug | kPolicyMigrateMa;
  debug.guest_svn = 7;
  auto d = verify(evidence(debug));
  ASSERT_TRUE(d) << d.error().str();
  EXPECT_TRUE(d->debug);
  EXPECT_EQ(d->details["policy.debug"], true);
  EXPECT_EQ(d->details["policy.migrate_ma"], true);
  EXPECT_EQ(d->svn, 7);
}

TEST_F(SnpChain, TcbMismatchNamesTheComponent) {
  ReportSpec s = spec();
  Tcb newer = tcb;
  newer.bootloader = 3;
  s.reported_tcb = encode_tcb(newer, Product::kMilan);
  EXPECT_EQ(err(verify(evidence(s))), "tcb: VCEK blSPL 2 != reported_tcb.bootloader 3");
  Tcb ucode = tcb;
  ucode.microcode = 213;
  s.reported_tcb = encode_tcb(ucode, Product::kMilan);
  EXPECT_EQ(err(verify(evidence(s))), "tcb: VCEK ucodeSPL 100 != reported_tcb.microcode 213");
  Tcb snp = tcb;
  snp.snp = 8;
  s.reported_tcb = encode_tcb(snp, Product::kMilan);
  EXPECT_EQ(err(verify(evidence(s))), "tcb: VCEK snpSPL 9 != reported_tcb.snp 8");
}

TEST_F(SnpChain, VcekOfAnotherChipIsRefused) {
  ReportSpec s = spec();
  s.chip_id = chip('d');
  EXPECT_EQ(err(verify(evidence(s))), "chip: VCEK hwID differs from the report's chip_id");
  // A VCEK without hwID cannot be tied to the chip id.
  auto bare = make_leaf(milan, {.tcb = tcb, .serial = 1001}).value();
  std::string r = signed_report(spec(), bare.key.get());
  EXPECT_EQ(err(verify(evidence_from(r, x509::der(bare.cert.get())))),
            "chip: VCEK has no hwID extension");
  // The host masked CHIP_ID (zeros): the VCEK's signature is what ties the report to the chip.
  ReportSpec masked = spec();
  masked.chip_id = std::string(64, '\0');
  auto c = verify(evidence(masked));
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->details["chip_id"], std::string(128, '0'));
}

TEST_F(SnpChain, HwidInAnOctetStringAsAmdsNewerVceks) {
  auto v = make_leaf(milan, {.tcb = tcb, .hwid = chip('c'), .hwid_octet_string = true}).value();
  std::string der = x509::der(v.cert.get());
  EXPECT_TRUE(verify(evidence_from(signed_report(spec(), v.key.get()), der)));
  ReportSpec other = spec();
  other.chip_id = chip('e');
  EXPECT_TRUE(starts(err(verify(evidence_from(signed_report(other, v.key.get()), der))), "chip: "));
}

TEST_F(SnpChain, ReportNotSignedByTheVcek) {
  auto other = make_leaf(milan, {.tcb = tcb, .hwid = chip('c'), .serial = 1002}).value();
  std::string r = signed_report(spec(), other.key.get());
  EXPECT_EQ(err(verify(evidence_from(r, x509::der(vcek.cert.get())))),
            "signature: report not signed by the VCEK");
}

TEST_F(SnpChain, VlekPath) {
  auto vlek = make_leaf(milan, {.vlek = true, .tcb = tcb, .serial = 2000}).value();
  std::string vlek_der = x509::der(vlek.cert.get());
  ReportSpec s = spec();
  s.flags = 1 << 2;  // SIGNING_KEY = VLEK
  s.chip_id = std::string(64, '\0');
  std::string r = signed_report(s, vlek.key.get());
  json ev = evidence_from(r, vlek_der);
  ASSERT_TRUE(ev.contains("vlek"));
  auto c = verify(ev);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->details["signing_key"], "vlek");
  // From the collateral directory.
  TempDir dir;
  dir.put("vlek.der", vlek_der);
  EXPECT_TRUE(verify(evidence_from(r), {.collateral_dir = dir.path}));
  // A VLEK is not a VCEK: it does not chain to the ASK, and a VCEK does not chain to the ASVK.
  json as_vcek = evidence_from(signed_report(spec(), vlek.key.get()));
  as_vcek["vcek"] = crypto::b64url(vlek_der);
  EXPECT_TRUE(starts(err(verify(as_vcek)), "chain: VCEK not signed by the Milan ASK"));
  json as_vlek = evidence_from(signed_report(s, vcek.key.get()));
  as_vlek["vlek"] = crypto::b64url(x509::der(vcek.cert.get()));
  EXPECT_TRUE(starts(err(verify(as_vlek)), "chain: VLEK not signed by the Milan ASVK"));
  // Roots without an ASVK refuse VLEKs.
  Roots no_asvk;
  no_asvk.push_back(milan.roots());
  no_asvk[0].asvk.reset();
  EXPECT_TRUE(starts(err(SnpVerifier({}, std::move(no_asvk)).verify_evidence(ev)), "root: "));
}

TEST_F(SnpChain, VcekValidityAtTheGivenTime) {
  auto old = make_leaf(milan, {.tcb = tcb,
                               .hwid = chip('c'),
                               .not_before = 946684800,  // 2000
                               .not_after = 1577836800,  // 2020
                               .serial = 1003})
                 .value();
  json ev = evidence_from(signed_report(spec(), old.key.get()), x509::der(old.cert.get()));
  std::string e = err(verify(ev, {.at = k2024}));
  EXPECT_TRUE(starts(e, "chain: VCEK not signed by the Milan ASK")) << e;
  EXPECT_NE(e.find("expired"), std::string::npos) << e;
  EXPECT_TRUE(verify(ev, {.at = 1262304000}));  // 2010
  auto future = make_leaf(milan, {.tcb = tcb,
                                  .hwid = chip('c'),
                                  .not_before = 1893456000,  // 2030
                                  .serial = 1004})
                    .value();
  json later = evidence_from(signed_report(spec(), future.key.get()), x509::der(future.cert.get()));
  EXPECT_NE(err(verify(later, {.at = k2024})).find("not yet valid"), std::string::npos);
  EXPECT_NE(err(verify(later)).find("not yet valid"), std::string::npos);  // at 0: now
}

TEST_F(SnpChain, CrlsInTheCollateralDirectory) {
  TempDir dir;
  json ev = evidence(spec());
  Options o{.collateral_dir = dir.path};
  // The ASK's CRL revoking other VCEKs; a CRL of an unrelated issuer (ignored).
  dir.put("others.crl", make_crl(milan.ask, {7, 8}).value());
  auto stranger = make_hierarchy("Milan").value();  // same names, other keys
  dir.put("stranger.crl", make_crl(stranger.ask, {1000}).value());
  EXPECT_TRUE(verify(ev, o)) << err(verify(ev, o));
  // The ASK's CRL revoking this VCEK (serial 1000).
  dir.put("ask.crl", make_crl(milan.ask, {1000}).value());
  std::string e = err(verify(ev, o));
  EXPECT_TRUE(starts(e, "chain: VCEK not signed by the Milan ASK")) << e;
  EXPECT_NE(e.find("revoked"), std::string::npos) << e;
  // The ARK's CRL revoking the ASK (serial 2): the pinned root itself is out.
  std::filesystem::remove(dir.path + "/ask.crl");
  dir.put("ark.crl", make_crl(milan.ark, {2}).value());
  e = err(verify(ev, o));
  EXPECT_TRUE(starts(e, "root: the pinned Milan ASK does not chain")) << e;
  EXPECT_NE(e.find("revoked"), std::string::npos) << e;
}

TEST_F(SnpChain, TurinLayoutAndFmc) {
  auto turin = make_hierarchy("Turin").value();
  Tcb t{.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5};
  auto leaf =
      make_leaf(turin, {.product_name = "Turin", .tcb = t, .with_fmc = true, .hwid = chip('t')})
          .value();
  Roots roots;
  roots.push_back(milan.roots());
  roots.push_back(turin.roots());
  SnpVerifier v({}, std::move(roots));
  ReportSpec s{.version = 5,
               .reported_tcb = encode_tcb(t, Product::kTurin),
               .chip_id = chip('t'),
               .cpuid_fam = 0x1A,
               .cpuid_mod = 0x02};
  auto c = v.verify_evidence(evidence_from(sign_report(make_report(s), leaf.key.get()).value(),
                                           x509::der(leaf.cert.get())));
  ASSERT_TRUE(c) << c.error().str();
  const json& d = c->details;
  EXPECT_EQ(d["product"], "Turin");
  EXPECT_EQ(d["reported_tcb.fmc"], 1);
  EXPECT_EQ(d["reported_tcb.bootloader"], 2);
  EXPECT_EQ(d["reported_tcb.tee"], 3);
  EXPECT_EQ(d["reported_tcb.snp"], 4);  // byte 3 on Turin (byte 6 on Milan/Genoa: 0 here)
  EXPECT_EQ(d["reported_tcb.microcode"], 5);
  EXPECT_EQ(d["launch_mit_vector"], 0);  // version 5
  Tcb wrong_fmc = t;
  wrong_fmc.fmc = 2;
  s.reported_tcb = encode_tcb(wrong_fmc, Product::kTurin);
  auto e = v.verify_evidence(evidence_from(sign_report(make_report(s), leaf.key.get()).value(),
                                           x509::der(leaf.cert.get())));
  EXPECT_EQ(err(e), "tcb: VCEK fmcSPL 1 != reported_tcb.fmc 2");
  // A Turin VCEK must carry fmcSPL.
  auto no_fmc =
      make_leaf(turin, {.product_name = "Turin", .tcb = t, .hwid = chip('t'), .serial = 1005})
          .value();
  s.reported_tcb = encode_tcb(t, Product::kTurin);
  e = v.verify_evidence(evidence_from(sign_report(make_report(s), no_fmc.key.get()).value(),
                                      x509::der(no_fmc.cert.get())));
  EXPECT_EQ(err(e), "tcb: VCEK has no fmcSPL extension");
}

TEST_F(SnpChain, ProductFromCpuidOrEveryRootWhenTheVcekHasNoName) {
  auto genoa = make_hierarchy("Genoa").value();
  Roots roots;
  roots.push_back(genoa.roots());
  roots.push_back(milan.roots());
  SnpVerifier v({}, std::move(roots));
  auto nameless = make_leaf(milan, {.product_name = "", .tcb = tcb, .hwid = chip('c')}).value();
  std::string der = x509::der(nameless.cert.get());
  // Version 3 with Milan's CPUID: Milan's roots.
  ReportSpec s = spec();
  s.cpuid_fam = 0x19;
  s.cpuid_mod = 0x01;
  auto c = v.verify_evidence(evidence_from(signed_report(s, nameless.key.get()), der));
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->details["product"], "Milan");
  // Version 2 (no CPUID): every product's roots are tried.
  ReportSpec v2 = spec();
  v2.version = 2;
  c = v.verify_evidence(evidence_from(signed_report(v2, nameless.key.get()), der));
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->details["product"], "Milan");
  // A VCEK no pinned root signed, product unknown.
  auto stranger = make_hierarchy("Milan").value();
  auto alien = make_leaf(stranger, {.product_name = "", .tcb = tcb, .hwid = chip('c')}).value();
  std::string e = err(v.verify_evidence(
      evidence_from(signed_report(v2, alien.key.get()), x509::der(alien.cert.get()))));
  EXPECT_TRUE(starts(e, "chain: VCEK (product unknown) chains to no pinned AMD root")) << e;
}

TEST_F(SnpChain, SignedCpuidMustNameTheVceksProduct) {
  ReportSpec s = spec();
  s.cpuid_fam = 0x19;
  s.cpuid_mod = 0x11;  // Genoa
  std::string e = err(verify(evidence(s)));
  EXPECT_TRUE(starts(e, "product: the VCEK is a Milan key but the report's CPUID")) << e;
  s.cpuid_mod = 0x01;
  EXPECT_TRUE(verify(evidence(s)));
}

TEST_F(SnpChain, SelfMadeRootsAreNotAmds) {
  // The crafted evidence against AMD's real pinned roots.
  std::string e = err(SnpVerifier().verify_evidence(evidence(spec())));
  EXPECT_TRUE(starts(e, "chain: VCEK not signed by the Milan ASK")) << e;
  // AMD's real Milan ASK under a self-made ARK.
  Roots mixed;
  mixed.push_back(milan.roots());
  mixed[0].ask = std::move(product_roots("Milan", amd_roots_pem("Milan")).value().ask);
  e = err(SnpVerifier({}, std::move(mixed)).verify_evidence(evidence(spec())));
  EXPECT_TRUE(starts(e, "root: the pinned Milan ASK does not chain to the pinned Milan ARK")) << e;
}

TEST_F(SnpChain, ReportVersions) {
  for (uint32_t version : {2u, 3u, 4u, 5u}) {
    ReportSpec s = spec();
    s.version = version;
    auto c = verify(evidence(s));
    ASSERT_TRUE(c) << version << ": " << c.error().str();
    EXPECT_EQ(c->details["version"], version);
    EXPECT_EQ(c->details.contains("cpuid_fam_id"), version >= 3);
    EXPECT_EQ(c->details.contains("current_mit_vector"), version >= 5);
  }
}
