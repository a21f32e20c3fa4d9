// The tpm backend against a real swtpm on 127.0.0.1: quotes verify, tampering is caught, and the
// KBS releases a secret to a TPM-attested sandbox.
#include "attest/tpm.hpp"

#include "fixture.hpp"
#include "swtpm.hpp"

namespace kbstest {

class TpmTest : public KbsTest {
 protected:
  void SetUp() override {
    KbsTest::SetUp();
    if (!swtpm_.start()) GTEST_SKIP() << "swtpm not available";
    auto a = attest::TpmAttester::open(swtpm_.tcti());
    ASSERT_TRUE(a) << a.error().str();
    tpm_ = std::move(*a);
    write_file_atomic(dir_ + "/ak.pem", tpm_->ak_public_pem().value()).value();
  }
  void TearDown() override {
    tpm_.reset();
    swtpm_.stop();
    KbsTest::TearDown();
  }
  attest::TpmVerifier verifier() {
    std::vector<crypto::Pkey> aks;
    aks.push_back(crypto::load_public_pem(dir_ + "/ak.pem").value());
    return attest::TpmVerifier(std::move(aks));
  }
  Swtpm swtpm_;
  std::unique_ptr<attest::TpmAttester> tpm_;
};

TEST_F(TpmTest, QuoteVerifiesAndSelectsTheSandbox) {
  std::string m1 = crypto::sha256("sandbox-1"), m2 = crypto::sha256("sandbox-2");
  ASSERT_TRUE(tpm_->extend(m1));
  ASSERT_TRUE(tpm_->extend(m2));
  tpm_->select(0);
  auto rd = attest::report_data("nonce", json::object());
  auto ev = tpm_->evidence(rd);
  ASSERT_TRUE(ev) << ev.error().str();
  auto v = verifier();
  auto c = v.verify(*ev, rd);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->measurement, crypto::hex(m1));
  EXPECT_FALSE(c->insecure);
  EXPECT_EQ(c->details["log_length"], 2);
}

TEST_F(TpmTest, TamperedQuoteLogOrNonceRefused) {
  ASSERT_TRUE(tpm_->extend(crypto::sha256("sandbox")));
  auto rd = attest::report_data("nonce", json::object());
  auto ev = tpm_->evidence(rd).value();
  auto v = verifier();
  ASSERT_TRUE(v.verify(ev, rd));
  EXPECT_FALSE(v.verify(ev, attest::report_data("other", json::object())));
  json bad_log = ev;
  bad_log["log"][0] = crypto::hex(crypto::sha256("something else"));
  auto r = v.verify(bad_log, rd);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("replay"), std::string::npos) << r.error().msg;
  json extra = ev;
  extra["log"].push_back(crypto::hex(crypto::sha256("x")));
  EXPECT_FALSE(v.verify(extra, rd));
  json bad_quote = ev;
  auto q = crypto::unb64url(ev["quote"].get<std::string>()).value();
  q[q.size() - 1] ^= 1;
  bad_quote["quote"] = crypto::b64url(q);
  EXPECT_FALSE(v.verify(bad_quote, rd));
  json bad_sel = ev;
  bad_sel["selected"] = 5;
  EXPECT_FALSE(v.verify(bad_sel, rd));
  // An AK that was never enrolled.
  std::vector<crypto::Pkey> other;
  other.push_back(jose::generate_p256().value());
  attest::TpmVerifier stranger(std::move(other));
  EXPECT_FALSE(stranger.verify(ev, rd));
}

TEST_F(TpmTest, KbsReleasesSecretToTpmAttestedSandbox) {
  std::string m = crypto::sha256("tpm-sandbox");
  ASSERT_TRUE(tpm_->extend(crypto::sha256("earlier sandbox")));
  ASSERT_TRUE(tpm_->extend(m));
  cfg_.tpm_trusted_aks = {dir_ + "/ak.pem"};
  start();
  provision();  // other/*/* allows tpm with reference values
  ASSERT_EQ(admin_post("/kbs/v0/reference-values", json{{"add", {crypto::hex(m)}}}.dump()).status,
            200);
  auto key = jose::generate_rsa(2048).value();
  auto c = client();
  auto token = c.attest(*tpm_, key.get());
  ASSERT_TRUE(token) << token.error().str();
  EXPECT_EQ(c.get_resource("other/key/one", key.get()).value(), "other");
  // The sample-only rule does not cover tpm.
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", c.token()).status, 403);
  // The earlier sandbox's measurement is not a reference value.
  tpm_->select(0);
  auto c2 = client();
  ASSERT_TRUE(c2.attest(*tpm_, key.get()));
  EXPECT_EQ(c2.get("/kbs/v0/resource/other/key/one", "", c2.token()).status, 403);
}

}  // namespace kbstest

namespace kbstest {

TEST_F(TpmTest, AkEnrolledThroughAdminApiAndPersisted) {
  std::string m = crypto::sha256("tpm-sandbox");
  ASSERT_TRUE(tpm_->extend(m));
  start();
  provision();
  ASSERT_EQ(admin_post("/kbs/v0/reference-values", json{{"add", {crypto::hex(m)}}}.dump()).status,
            200);
  auto key = jose::generate_p256().value();
  {
    auto before = client();
    auto refused = before.attest(*tpm_, key.get());
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().msg.find("enrolled"), std::string::npos) << refused.error().msg;
  }
  // Only an admin may enrol, and only EC P-256 keys.
  auto pem = tpm_->ak_public_pem().value();
  EXPECT_EQ(client().post("/kbs/v0/tpm-aks", pem, "", "", "text/plain").status, 401);
  EXPECT_EQ(admin_post("/kbs/v0/tpm-aks", "not a key").status, 400);
  EXPECT_EQ(admin_post("/kbs/v0/tpm-aks", crypto::public_pem(admin_key_.get()).value()).status,
            400);
  ASSERT_EQ(admin_post("/kbs/v0/tpm-aks", pem).status, 200);
  {
    auto c = client();
    ASSERT_TRUE(c.attest(*tpm_, key.get()));
    EXPECT_EQ(c.get_resource("other/key/one", key.get()).value(), "other");
  }
  stop();
  start();  // the enrolment survives a restart
  auto c2 = client();
  ASSERT_TRUE(c2.attest(*tpm_, key.get()));
}

}  // namespace kbstest

namespace kbstest {

TEST_F(TpmTest, PersistentEventLogMustReplayToThePcr) {
  std::string log = dir_ + "/pcr23.log";
  tpm_.reset();  // use a logging attester from the start (PCR 23 is still zero)
  {
    auto a = attest::TpmAttester::open(swtpm_.tcti(), log).value();
    ASSERT_TRUE(a->extend(crypto::sha256("first")));
  }
  auto a = attest::TpmAttester::open(swtpm_.tcti(), log);
  ASSERT_TRUE(a) << a.error().str();
  ASSERT_TRUE((*a)->extend(crypto::sha256("second")));
  auto rd = attest::report_data("n", json::object());
  auto c = verifier().verify((*a)->evidence(rd).value(), rd);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->measurement, crypto::hex(crypto::sha256("second")));
  EXPECT_EQ(c->details["log_length"], 2);
  a->reset();
  // A lost or truncated log no longer matches the PCR: refuse to attest with it.
  write_file_atomic(log, crypto::hex(crypto::sha256("first")) + "\n").value();
  auto stale = attest::TpmAttester::open(swtpm_.tcti(), log);
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().msg.find("does not replay"), std::string::npos);
}

}  // namespace kbstest
