// Intel PCS collateral: the real tcbInfo/enclaveIdentity (tests/data/tee/tdx) verify with Intel's
// public SGX TCB Signing certificate chained to the pinned root and give tdx_quote_6.dat (the only
// quote of that FMSPC) its TCB status; expiry, FMSPC mismatch and edits without re-signing are
// refused; with a self-made PKI every TCB rule is exercised (levels, TDX module, QE identity,
// Revoked refused).
#include <gtest/gtest.h>

#include "attest/dcap/verifier.hpp"
#include "dcap_fake.hpp"

namespace veil::attest::dcap {
namespace {

using dcap_test::data;
using dcap_test::Fake;
using dcap_test::kAt;
using dcap_test::kRealAt;
using dcap_test::PckTcb;
using dcap_test::prefix;
using dcap_test::QeParams;
using dcap_test::TdParams;

const std::string kRealDir = std::string(VEIL_TEE_DATA) + "/tdx";

x509::Cert intel_root() {
  return std::move(x509::from_pem(intel_sgx_root_pem()).value()[0]);
}

TEST(DcapCollateral, IntelsFilesVerifyWithTheTcbSigningChain) {
  auto root = intel_root();
  auto c = check_collateral(data("tdx/tcbInfo.json"), data("tdx/enclaveIdentity.json"),
                            data("tdx/tcb_signing_chain.pem"), root.get(), kRealAt);
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->tcb_info.id, "TDX");
  EXPECT_EQ(crypto::hex(c->tcb_info.fmspc), "00a06d080000");
  EXPECT_EQ(c->tcb_info.levels.size(), 2u);
  EXPECT_EQ(c->tcb_info.module_identities.size(), 2u);
  EXPECT_EQ(c->qe_identity.id, "TD_QE");
  EXPECT_EQ(c->qe_identity.isv_prod_id, 2);
  EXPECT_EQ(c->tcb_info.next_update, parse_time("2025-11-26T13:07:17Z").value());
}

// tdx_quote_6.dat (FMSPC 00a06d080000) under Intel's collateral of 2025-10-27:
//   PCK SGX components 2,2,7,7,4,1,0,2,0… >= both levels' 2,2,2,2,4,1,0,2,0…, but PCESVN 11 < 13
//   so the UpToDate level (pcesvn 13) does not match and the OutOfDate one (pcesvn 5) does;
//   TEE_TCB_SVN 05 03 02: [1] = 3 > 0, so TDX components compare from index 2 (2 >= 2) and the
//   module is TDX_03, isvsvn 5 >= 3: UpToDate; MRSIGNERSEAM and SEAMATTRIBUTES are zero like
//   TDX_03's; the QE (MRSIGNER dc9e…, ISVPRODID 2, ATTRIBUTES 15…e7… & mask fbff… = 11…) has
//   ISVSVN 7 >= 4: UpToDate. Folded: OutOfDate.
TEST(DcapCollateral, RealQuoteGetsOutOfDate) {
  TdxVerifier v({kRealDir, kRealAt, ""});
  auto c = v.verify_evidence(tdx_evidence(data("tdx/tdx_quote_6.dat")));
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->details["tcb_status"], "OutOfDate");
}

TEST(DcapCollateral, OtherPlatformsAndTheSgxQuoteDoNotFit) {
  TdxVerifier v({kRealDir, kRealAt, ""});
  for (const char* f : {"tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat"}) {
    auto r = v.verify_evidence(tdx_evidence(data(f)));
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error().msg.rfind("collateral: FMSPC mismatch", 0), 0u) << r.error().msg;
  }
  SgxVerifier s({kRealDir, kRealAt, ""});
  auto r = s.verify_evidence(sgx_evidence(data("sgx/occlum_quote.dat")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "collateral: tcbInfo is for TDX, the quote is SGX");
}

TEST(DcapCollateral, OutsideItsValidityIsRefused) {
  std::string q = data("tdx/tdx_quote_6.dat");
  TdxVerifier late({kRealDir, 1764547200, ""});  // 2025-12-01
  auto r = late.verify_evidence(tdx_evidence(q));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "collateral: tcbInfo expired at 2025-11-26T13:07:17Z");
  TdxVerifier early({kRealDir, 1759276800, ""});  // 2025-10-01
  auto r2 = early.verify_evidence(tdx_evidence(q));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().msg, "collateral: tcbInfo not valid before 2025-10-27T13:07:17Z");
  // Without `at`, "now" (after 2025-11-26) is past nextUpdate too.
  TdxVerifier now({kRealDir, 0, ""});
  auto r3 = now.verify_evidence(tdx_evidence(q));
  ASSERT_FALSE(r3);
  EXPECT_EQ(prefix(r3.error()), "collateral");
}

TEST(DcapCollateral, EditsWithoutResigningAreRefused) {
  // Raising the UpToDate level's reach (pcesvn 13 -> 11) would make the quote UpToDate.
  std::string tcb = data("tdx/tcbInfo.json");
  size_t at = tcb.find("\"pcesvn\":13");
  ASSERT_NE(at, std::string::npos);
  std::string edited = tcb;
  edited.replace(at, 11, "\"pcesvn\":11");
  std::string dir = dcap_test::temp_dir("edited");
  dcap_test::write(dir + "/tcbInfo.json", edited);
  dcap_test::write(dir + "/enclaveIdentity.json", data("tdx/enclaveIdentity.json"));
  dcap_test::write(dir + "/tcb_signing_chain.pem", data("tdx/tcb_signing_chain.pem"));
  TdxVerifier v({dir, kRealAt, ""});
  auto r = v.verify_evidence(tdx_evidence(data("tdx/tdx_quote_6.dat")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg,
            "collateral: the tcbInfo signature does not verify with the TCB signing certificate");
  // Whitespace is part of the signed bytes too.
  std::string spaced = tcb;
  spaced.insert(spaced.find("\"version\""), " ");
  auto root = intel_root();
  auto r2 = check_collateral(spaced, data("tdx/enclaveIdentity.json"),
                             data("tdx/tcb_signing_chain.pem"), root.get(), kRealAt);
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "collateral");
  // The QE identity's signature likewise.
  std::string qe = data("tdx/enclaveIdentity.json");
  qe.replace(qe.find("\"isvsvn\":4"), 10, "\"isvsvn\":1");
  auto r3 = check_collateral(tcb, qe, data("tdx/tcb_signing_chain.pem"), root.get(), kRealAt);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().msg,
            "collateral: the enclaveIdentity signature does not verify with the TCB signing "
            "certificate");
}

TEST(DcapCollateral, TheSigningChainIsRequiredAndMustReachThePinnedRoot) {
  auto root = intel_root();
  std::string tcb = data("tdx/tcbInfo.json"), qe = data("tdx/enclaveIdentity.json");
  // No chain file in the directory.
  std::string dir = dcap_test::temp_dir("nochain");
  dcap_test::write(dir + "/tcbInfo.json", tcb);
  dcap_test::write(dir + "/enclaveIdentity.json", qe);
  auto r = load_collateral(dir, dcap_test::unhex("00a06d080000"), root.get(), kRealAt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg,
            "collateral: open " + dir + "/tcb_signing_chain.pem: No such file or directory");
  // A TCB signing certificate under another root.
  Fake fake;
  auto r2 = check_collateral(tcb, qe, fake.signing_chain_pem(), root.get(), kRealAt);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().msg.rfind("collateral: TCB signing certificate:", 0), 0u) << r2.error().msg;
  // A certificate that chains to the root but is not a TCB Signing one (the PCK CA).
  auto chain = x509::from_pem(parse_quote(data("tdx/tdx_quote_6.dat")).value().pck_chain).value();
  auto r3 = check_collateral(tcb, qe, dcap_test::pem(chain[1].get()), root.get(), kRealAt);
  ASSERT_FALSE(r3);
  EXPECT_EQ(prefix(r3.error()), "collateral");
  EXPECT_NE(r3.error().msg.find("not an SGX TCB Signing"), std::string::npos);
}

TEST(DcapCollateral, RawMemberIsTheExactSignedText) {
  std::string_view s = R"( {"a" : {"x": "}\"{", "y":[1,{}]} , "b":2,"c":"q"} )";
  EXPECT_EQ(raw_member(s, "a").value(), R"({"x": "}\"{", "y":[1,{}]})");
  EXPECT_EQ(raw_member(s, "b").value(), "2");
  EXPECT_EQ(raw_member(s, "c").value(), "\"q\"");
  EXPECT_FALSE(raw_member(s, "d"));
  EXPECT_FALSE(raw_member(R"({"a":1,"a":2})", "a"));
  EXPECT_FALSE(raw_member(R"({"a":{)", "a"));
  EXPECT_EQ(parse_time("1970-01-02T00:00:00Z").value(), 86400);
  EXPECT_FALSE(parse_time("2025-10-27 13:07:17Z"));
  EXPECT_FALSE(parse_time("2025-13-27T13:07:17Z"));
}

// --- the TCB rules, with a self-made PKI ---

struct Case {
  Fake fake;
  json tcb = dcap_test::tcb_info();
  json qe = dcap_test::qe_identity();
  explicit Case(const PckTcb& t = {}) : fake(t) {}
  Result<Claims> run(const TdParams& p = {}, const QeParams& q = {}) {
    std::string dir = dcap_test::collateral_dir(fake, tcb, qe);
    TdxVerifier v(fake.options(dir));
    return v.verify_evidence(tdx_evidence(fake.tdx_quote(p, q)));
  }
  std::string error(const TdParams& p = {}, const QeParams& q = {}) {
    auto c = run(p, q);
    return c ? "accepted" : c.error().msg;
  }
  std::string status(const TdParams& p = {}, const QeParams& q = {}) {
    auto c = run(p, q);
    return c ? c->details["tcb_status"].get<std::string>() : "error: " + c.error().msg;
  }
};

TEST(DcapTcb, PlatformLevels) {
  Case c;  // the real levels; PCK like tdx_quote_6.dat's: PCESVN 11
  EXPECT_EQ(c.status(), "OutOfDate");
  PckTcb t;
  t.pce_svn = 13;
  Case up(t);
  EXPECT_EQ(up.status(), "UpToDate");
  // The TDX late microcode SVN (TEE_TCB_SVN[2]) below every level: not supported.
  TdParams low;
  low.tee_tcb_svn = dcap_test::unhex("05030100000000000000000000000000");
  auto r = up.run(low);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg.rfind("tcb: no TCB level matches", 0), 0u) << r.error().msg;
  // An SGX component below every level: not supported either.
  PckTcb old = t;
  old.comp[0] = 1;
  Case o(old);
  auto r2 = o.run();
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "tcb");
  // The status strings of the matched level come through.
  for (const char* s : {"SWHardeningNeeded", "ConfigurationNeeded",
                        "ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded"}) {
    Case k(t);
    k.tcb["tcbLevels"][0]["tcbStatus"] = s;
    EXPECT_EQ(k.status(), s);
  }
}

TEST(DcapTcb, RevokedIsRefused) {
  PckTcb t;
  t.pce_svn = 13;
  Case c(t);
  c.tcb["tcbLevels"][0]["tcbStatus"] = "Revoked";
  auto r = c.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "tcb: the platform's TCB status is Revoked");
  // An unknown status string is not guessed at.
  Case u(t);
  u.tcb["tcbLevels"][0]["tcbStatus"] = "Fine";
  auto r2 = u.run();
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "collateral");
}

TEST(DcapTcb, TdxModuleIdentity) {
  PckTcb t;
  t.pce_svn = 13;
  // TDX_01 (TEE_TCB_SVN[1] = 1) has levels isvsvn 4 UpToDate, 2 OutOfDate.
  Case c(t);
  TdParams p;
  p.tee_tcb_svn = dcap_test::unhex("04010200000000000000000000000000");
  EXPECT_EQ(c.status(p), "UpToDate");
  p.tee_tcb_svn[0] = 3;
  EXPECT_EQ(c.status(p), "OutOfDate");  // module OutOfDate folds UpToDate into OutOfDate
  p.tee_tcb_svn[0] = 1;
  auto below = c.run(p);
  ASSERT_FALSE(below);
  EXPECT_EQ(prefix(below.error()), "tcb");
  // Module OutOfDate with a ConfigurationNeeded platform: OutOfDateConfigurationNeeded.
  Case cfg(t);
  cfg.tcb["tcbLevels"][0]["tcbStatus"] = "ConfigurationNeeded";
  p.tee_tcb_svn[0] = 3;
  EXPECT_EQ(cfg.status(p), "OutOfDateConfigurationNeeded");
  // A module version without an identity.
  p.tee_tcb_svn = dcap_test::unhex("05090200000000000000000000000000");
  auto none = c.run(p);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().msg,
            "collateral: tcbInfo has no TDX module identity TDX_09 (TEE_TCB_SVN[1] = 9)");
  // Revoked module level.
  Case rev(t);
  rev.tcb["tdxModuleIdentities"][0]["tcbLevels"][0]["tcbStatus"] = "Revoked";  // TDX_03
  auto r = rev.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "tcb: the platform's TCB status is Revoked");
  // A third-party module signer, or SEAM attributes set.
  TdParams signer;
  signer.mr_signer_seam = dcap_test::bytes(48, '\x01');
  auto r2 = c.run(signer);
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "collateral");
  TdParams attrs;
  attrs.seam_attributes[0] = 1;
  auto r3 = c.run(attrs);
  ASSERT_FALSE(r3);
  EXPECT_EQ(prefix(r3.error()), "collateral");
  // TEE_TCB_SVN[1] = 0: the tdxModule entry, and all 16 TDX components compared (5 >= 5).
  TdParams v0;
  v0.tee_tcb_svn = dcap_test::unhex("05000200000000000000000000000000");
  EXPECT_EQ(c.status(v0), "UpToDate");
  v0.tee_tcb_svn[0] = 4;  // below every level's TDX component 0
  auto r4 = c.run(v0);
  ASSERT_FALSE(r4);
  EXPECT_EQ(prefix(r4.error()), "tcb");
}

TEST(DcapTcb, QeIdentity) {
  PckTcb t;
  t.pce_svn = 13;
  Case c(t);
  c.qe["tcbLevels"] = json::parse(
      R"([{"tcb":{"isvsvn":8},"tcbDate":"2025-01-01T00:00:00Z","tcbStatus":"UpToDate"},
          {"tcb":{"isvsvn":6},"tcbDate":"2024-01-01T00:00:00Z","tcbStatus":"OutOfDate"},
          {"tcb":{"isvsvn":3},"tcbDate":"2023-01-01T00:00:00Z","tcbStatus":"Revoked"}])");
  QeParams q;
  q.isv_svn = 8;
  EXPECT_EQ(c.status({}, q), "UpToDate");
  q.isv_svn = 7;
  EXPECT_EQ(c.status({}, q), "OutOfDate");
  q.isv_svn = 3;
  auto rev = c.run({}, q);
  ASSERT_FALSE(rev);
  EXPECT_EQ(rev.error().msg, "tcb: the platform's TCB status is Revoked");
  q.isv_svn = 2;
  auto none = c.run({}, q);
  ASSERT_FALSE(none);
  EXPECT_EQ(prefix(none.error()), "tcb");
  // Identity mismatches.
  QeParams signer;
  signer.mr_signer = dcap_test::kTdQeMrSigner;
  signer.mr_signer[0] ^= 1;
  auto r = c.run({}, signer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "collateral: the QE report's MRSIGNER is not the QE identity's");
  QeParams prod;
  prod.isv_prod_id = 1;
  EXPECT_EQ(c.error({}, prod),
            "collateral: the QE report's ISVPRODID 1 is not the QE identity's 2");
  QeParams attr;
  attr.attributes = dcap_test::kTdQeAttributes;
  attr.attributes[0] = '\x17';  // bit 1 (DEBUG) is under the mask
  EXPECT_EQ(c.error({}, attr),
            "collateral: the QE report's ATTRIBUTES do not match the QE identity");
  QeParams masked;
  masked.attributes = dcap_test::kTdQeAttributes;
  masked.attributes[8] = '\x03';  // XFRM is outside the mask
  masked.isv_svn = 8;
  EXPECT_EQ(c.status({}, masked), "UpToDate");
}

TEST(DcapTcb, PerPlatformFileAndKinds) {
  PckTcb t;
  t.pce_svn = 13;
  Case c(t);
  std::string dir = dcap_test::collateral_dir(c.fake, c.tcb, c.qe);
  // tcbInfo-<fmspc>.json wins over tcbInfo.json.
  json other = c.tcb;
  other["tcbLevels"][0]["tcbStatus"] = "SWHardeningNeeded";
  dcap_test::write(dir + "/tcbInfo-00a06d080000.json", c.fake.signed_file("tcbInfo", other));
  TdxVerifier v(c.fake.options(dir));
  auto claims = v.verify_evidence(tdx_evidence(c.fake.tdx_quote()));
  ASSERT_TRUE(claims) << claims.error().msg;
  EXPECT_EQ(claims->details["tcb_status"], "SWHardeningNeeded");
  // qeIdentity.json is accepted in place of enclaveIdentity.json.
  std::rename((dir + "/enclaveIdentity.json").c_str(), (dir + "/qeIdentity.json").c_str());
  EXPECT_TRUE(v.verify_evidence(tdx_evidence(c.fake.tdx_quote())));
  // A TD report 1.5 (quote v5) body is evaluated the same way.
  TdParams v5;
  v5.version = 5;
  v5.td15 = true;
  auto c5 = v.verify_evidence(tdx_evidence(c.fake.tdx_quote(v5)));
  ASSERT_TRUE(c5) << c5.error().msg;
  EXPECT_EQ(c5->details["quote_version"], 5);
  // An SGX quote needs SGX collateral (tcbInfo id "SGX", QE identity "QE").
  SgxVerifier s(c.fake.options(dir));
  auto sr = s.verify_evidence(sgx_evidence(c.fake.sgx_quote()));
  ASSERT_FALSE(sr);
  EXPECT_EQ(sr.error().msg, "collateral: tcbInfo is for TDX, the quote is SGX");
  json sgx_tcb = c.tcb;
  sgx_tcb["id"] = "SGX";
  for (auto& l : sgx_tcb["tcbLevels"]) l["tcb"].erase("tdxtcbcomponents");
  sgx_tcb.erase("tdxModule");
  sgx_tcb.erase("tdxModuleIdentities");
  json sgx_qe = c.qe;
  sgx_qe["id"] = "QE";
  std::string sdir = dcap_test::collateral_dir(c.fake, sgx_tcb, sgx_qe, "sgx");
  SgxVerifier s2(c.fake.options(sdir));
  auto ok = s2.verify_evidence(sgx_evidence(c.fake.sgx_quote()));
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(ok->details["tcb_status"], "UpToDate");
}

}  // namespace
}  // namespace veil::attest::dcap
