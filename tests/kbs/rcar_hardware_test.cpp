// RCAR end to end with hardware-TEE evidence. TDX: quotes from a self-made Intel-like PKI
// (attest/dcap/testing.hpp) that the server's TDX verifier pins in place of Intel's root, with
// collateral; SNP: reports signed by a self-made AMD-like hierarchy (attest/snp/testing.hpp)
// pinned in place of AMD's. Every check real evidence gets runs, and the policy decides on the
// real claim names (MRTD, tcb_status, RTMRs, debug; launch measurement, reported TCB). Real
// recorded evidence cannot bind a fresh nonce: rcar_test.cpp sends it and checks it is refused
// for exactly that.
#include "../attest/dcap_fake.hpp"
#include "attest/snp/testing.hpp"
#include "attest/snp/verifier.hpp"
#include "fixture.hpp"

namespace kbstest {
namespace {

using attest::dcap::TdxVerifier;
using attest::dcap::testing::TdxAttester;

class KbsTdx : public KbsTest {
 protected:
  void SetUp() override {
    KbsTest::SetUp();
    pck_tcb_.pce_svn = 13;  // the level that is UpToDate in the (re-dated) Intel TCB info
    fake_ = std::make_unique<dcap_test::Fake>(pck_tcb_);
    std::string coll =
        dcap_test::collateral_dir(*fake_, dcap_test::tcb_info(), dcap_test::qe_identity(), "kbs");
    start([&](kbs::Server& s) {
      auto ok = s.add_verifier(std::make_unique<TdxVerifier>(fake_->options(coll)));
      ASSERT_TRUE(ok) << ok.error().str();
    });
    std::string mr_td = crypto::hex(std::string(48, '\x11'));  // TdParams' default MRTD
    json policy = {
        {"rules",
         json::array({{{"resource", "conf/*/*"},
                       {"tees", json::array({"tdx"})},
                       {"measurements", json::array({mr_td})},
                       {"claims",
                        {{"tdx",
                          {{"tcb_status", json::array({"UpToDate", "SWHardeningNeeded"})},
                           {"rtmr0", std::string(96, '0')}}}}}},
                      {{"resource", "strict/*/*"},
                       {"tees", json::array({"tdx"})},
                       {"measurements", "any"},
                       {"claims", {{"tdx", {{"mr_config_id", std::string(96, 'f')}}}}}}})}};
    ASSERT_EQ(admin_post("/kbs/v0/resource-policy", policy.dump()).status, 200);
    ASSERT_EQ(admin_post("/kbs/v0/resource/conf/key/one", "td-secret").status, 200);
    ASSERT_EQ(admin_post("/kbs/v0/resource/strict/key/one", "strict").status, 200);
  }
  json last_audit() {
    auto audit = client().get("/kbs/v0/audit?limit=1", "", admin());
    EXPECT_EQ(audit.status, 200);
    return json::parse(audit.body).at(0);
  }

  dcap_test::PckTcb pck_tcb_;
  std::unique_ptr<dcap_test::Fake> fake_;
};

TEST_F(KbsTdx, AQuoteBoundToTheSessionGetsTheSecretItsClaimsAllow) {
  auto key = jose::generate_p256().value();
  auto c = client();
  TdxAttester td(*fake_);
  auto token = c.attest(td, key.get());
  ASSERT_TRUE(token) << token.error().str();
  auto secret = c.get_resource("conf/key/one", key.get());
  ASSERT_TRUE(secret) << secret.error().str();
  EXPECT_EQ(*secret, "td-secret");
  json row = last_audit();
  EXPECT_EQ(row["decision"], "allow");
  EXPECT_EQ(row["claims"]["tee"], "tdx");
  EXPECT_EQ(row["claims"]["details"]["tcb_status"], "UpToDate");
  EXPECT_EQ(row["claims"]["details"]["mr_td"], crypto::hex(std::string(48, '\x11')));

  // A claim rule the TD does not meet: denied, and the audit names the claim.
  auto strict = c.get_resource("strict/key/one", key.get());
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().str().find("HTTP 403"), std::string::npos) << strict.error().str();
  json denied = last_audit();
  EXPECT_EQ(denied["decision"], "deny");
  EXPECT_NE(denied["reason"].get<std::string>().find("mr_config_id"), std::string::npos)
      << denied.dump();
}

TEST_F(KbsTdx, ADebugTdOrAnotherRtmrIsDenied) {
  dcap_test::TdParams debug;
  debug.td_attributes = std::string("\x01", 1) + std::string(7, '\0');  // TUD.DEBUG
  dcap_test::TdParams booted_else;
  booted_else.rtmr[0] = std::string(48, '\x5a');
  for (const auto& [params, why] : {std::pair{debug, std::string("debug mode")},
                                    std::pair{booted_else, std::string("rtmr0")}}) {
    auto key = jose::generate_p256().value();
    auto c = client();
    TdxAttester td(*fake_, params);
    ASSERT_TRUE(c.attest(td, key.get()));  // the quote is genuine: attestation succeeds
    auto r = c.get_resource("conf/key/one", key.get());
    ASSERT_FALSE(r) << why;
    EXPECT_NE(r.error().str().find("HTTP 403"), std::string::npos) << r.error().str();
    EXPECT_NE(last_audit()["reason"].get<std::string>().find(why), std::string::npos) << why;
  }
}

TEST_F(KbsTdx, AQuoteFromAnotherPlatformPkiIsRefusedAtAttest) {
  dcap_test::Fake stranger(pck_tcb_);  // same shape, another root
  auto key = jose::generate_p256().value();
  auto c = client();
  TdxAttester td(stranger);
  auto r = c.attest(td, key.get());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().str().find("HTTP 401"), std::string::npos) << r.error().str();
  EXPECT_NE(r.error().str().find("root"), std::string::npos) << r.error().str();
}

namespace snpt = attest::snp::testing;

// SNP evidence from a self-made Milan hierarchy: a VCEK for one chip and TCB, reports carrying the
// report data asked for.
class SnpAttester : public attest::Attester {
 public:
  SnpAttester(const snpt::Issuer& vcek, const snpt::ReportSpec& spec) : vcek_(vcek), spec_(spec) {}
  std::string tee() const override { return "snp"; }
  Result<json> evidence(std::string_view report_data) override {
    snpt::ReportSpec s = spec_;
    s.report_data = std::string(report_data) + std::string(64 - report_data.size(), '\0');
    auto signed_report = VEIL_TRY(snpt::sign_report(snpt::make_report(s), vcek_.key.get()));
    return attest::snp::evidence_from(signed_report, x509::der(vcek_.cert.get()));
  }

 private:
  const snpt::Issuer& vcek_;
  snpt::ReportSpec spec_;
};

TEST_F(KbsTest, AnSnpReportBoundToTheSessionGetsTheSecretItsTcbAllows) {
  auto milan = snpt::make_hierarchy("Milan").value();
  attest::snp::Tcb tcb{.bootloader = 3, .tee = 0, .snp = 8, .microcode = 115};
  std::string chip(64, '\x5a');
  auto vcek = snpt::make_leaf(milan, {.product_name = "Milan", .tcb = tcb, .hwid = chip}).value();
  attest::snp::Roots roots;
  roots.push_back(milan.roots());
  start([&](kbs::Server& s) {
    auto ok = s.add_verifier(
        std::make_unique<attest::snp::SnpVerifier>(attest::snp::Options{}, std::move(roots)));
    ASSERT_TRUE(ok) << ok.error().str();
  });
  std::string measurement(48, '\x42');
  json policy = {
      {"rules", json::array({{{"resource", "snp/*/*"},
                              {"tees", json::array({"snp"})},
                              {"measurements", json::array({crypto::hex(measurement)})},
                              {"claims", {{"snp", {{"reported_tcb.snp", {{"min", 8}}}}}}}}})}};
  ASSERT_EQ(admin_post("/kbs/v0/resource-policy", policy.dump()).status, 200);
  ASSERT_EQ(admin_post("/kbs/v0/resource/snp/key/one", "snp-secret").status, 200);

  snpt::ReportSpec spec;
  spec.chip_id = chip;
  spec.measurement = measurement;
  spec.reported_tcb = snpt::encode_tcb(tcb, attest::snp::Product::kMilan);
  auto key = jose::generate_p256().value();
  auto c = client();
  SnpAttester good(vcek, spec);
  ASSERT_TRUE(c.attest(good, key.get()));
  auto secret = c.get_resource("snp/key/one", key.get());
  ASSERT_TRUE(secret) << secret.error().str();
  EXPECT_EQ(*secret, "snp-secret");

  // The same guest on a host with older SNP firmware: its VCEK (and report) say snpSPL 7.
  attest::snp::Tcb old = tcb;
  old.snp = 7;
  auto old_vcek =
      snpt::make_leaf(milan, {.product_name = "Milan", .tcb = old, .hwid = chip, .serial = 1001})
          .value();
  snpt::ReportSpec old_spec = spec;
  old_spec.reported_tcb = snpt::encode_tcb(old, attest::snp::Product::kMilan);
  auto key2 = jose::generate_p256().value();
  auto c2 = client();
  SnpAttester stale(old_vcek, old_spec);
  ASSERT_TRUE(c2.attest(stale, key2.get()));
  auto denied = c2.get_resource("snp/key/one", key2.get());
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().str().find("HTTP 403"), std::string::npos) << denied.error().str();
  auto audit = client().get("/kbs/v0/audit?limit=1", "", admin());
  EXPECT_NE(json::parse(audit.body).at(0)["reason"].get<std::string>().find("reported_tcb.snp"),
            std::string::npos)
      << audit.body;

  // A report whose REPORTED_TCB claims newer firmware than its VCEK certifies: refused at attest.
  snpt::ReportSpec lying = old_spec;
  lying.reported_tcb = spec.reported_tcb;
  auto key3 = jose::generate_p256().value();
  auto c3 = client();
  SnpAttester liar(old_vcek, lying);
  auto r = c3.attest(liar, key3.get());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().str().find("tcb: VCEK snpSPL 7"), std::string::npos) << r.error().str();
}

}  // namespace
}  // namespace kbstest
