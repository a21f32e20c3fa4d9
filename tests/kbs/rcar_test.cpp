// RCAR over real HTTP on 127.0.0.1: the happy path and every refusal the protocol promises.
#include "fixture.hpp"

namespace kbstest {

TEST_F(KbsTest, HappyPathRsaAndEcKeys) {
  start();
  provision();
  for (bool ec : {false, true}) {
    auto tee_key = ec ? jose::generate_p256().value() : jose::generate_rsa(2048).value();
    auto c = client();
    auto a = attester();
    auto token = c.attest(a, tee_key.get());
    ASSERT_TRUE(token) << token.error().str();
    auto data = c.get_resource("demo/key/one", tee_key.get());
    ASSERT_TRUE(data) << data.error().str();
    EXPECT_EQ(*data, "s3cret");
    // The attested session cookie works too (Trustee style), without the token.
    auto r = c.get("/kbs/v0/resource/demo/key/one", c.cookie());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(jose::jwe_decrypt(tee_key.get(), json::parse(r.body)).value(), "s3cret");
  }
}

TEST_F(KbsTest, WrongNonceRefused) {
  start();
  provision();
  auto c = client();
  auto [cookie, nonce] = auth(c);
  auto key = jose::generate_p256().value();
  auto jwk = jose::public_jwk(key.get()).value();
  auto r = c.post("/kbs/v0/attest", attest_body("not-the-nonce", jwk, jwk).dump(), cookie);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_NE(r.body.find("report data"), std::string::npos) << r.body;
}

TEST_F(KbsTest, ReplayedEvidenceRefused) {
  start();
  provision();
  auto c = client();
  auto [cookie, nonce] = auth(c);
  auto key = jose::generate_p256().value();
  auto jwk = jose::public_jwk(key.get()).value();
  auto body = attest_body(nonce, jwk, jwk).dump();
  EXPECT_EQ(c.post("/kbs/v0/attest", body, cookie).status, 200);
  // Same session again: the challenge was already answered.
  EXPECT_EQ(c.post("/kbs/v0/attest", body, cookie).status, 401);
  // A fresh session: the old evidence binds the old nonce.
  auto [cookie2, nonce2] = auth(c);
  EXPECT_NE(nonce, nonce2);
  EXPECT_EQ(c.post("/kbs/v0/attest", body, cookie2).status, 401);
}

TEST_F(KbsTest, FailedAttestationBurnsTheChallenge) {
  start();
  provision();
  auto c = client();
  auto [cookie, nonce] = auth(c);
  auto key = jose::generate_p256().value();
  auto jwk = jose::public_jwk(key.get()).value();
  EXPECT_EQ(c.post("/kbs/v0/attest", attest_body("x", jwk, jwk).dump(), cookie).status, 401);
  EXPECT_EQ(c.post("/kbs/v0/attest", attest_body(nonce, jwk, jwk).dump(), cookie).status, 401);
}

TEST_F(KbsTest, EvidenceBoundToAnotherKeyRefused) {
  start();
  provision();
  auto c = client();
  auto [cookie, nonce] = auth(c);
  auto mine = jose::public_jwk(jose::generate_p256().value().get()).value();
  auto attacker = jose::public_jwk(jose::generate_p256().value().get()).value();
  auto r = c.post("/kbs/v0/attest", attest_body(nonce, attacker, mine).dump(), cookie);
  EXPECT_EQ(r.status, 401) << r.body;
}

TEST_F(KbsTest, AnotherSessionsCookieRefused) {
  start();
  provision();
  auto c = client();
  auto [cookie_a, nonce_a] = auth(c);
  auto [cookie_b, nonce_b] = auth(c);
  auto key = jose::generate_p256().value();
  auto jwk = jose::public_jwk(key.get()).value();
  // Evidence for A's nonce presented under B's cookie.
  EXPECT_EQ(c.post("/kbs/v0/attest", attest_body(nonce_a, jwk, jwk).dump(), cookie_b).status, 401);
  // A never-attested (or unknown) session cookie cannot fetch resources.
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", cookie_a).status, 401);
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "forged-cookie").status, 401);
  EXPECT_EQ(c.post("/kbs/v0/attest", attest_body(nonce_a, jwk, jwk).dump(), "nope").status, 401);
}

TEST_F(KbsTest, MeasurementNotInReferenceValuesDeniedAndAudited) {
  start();
  provision();
  auto key = jose::generate_rsa(2048).value();
  auto c = client();
  auto a = attester(kOtherMeasurement);
  ASSERT_TRUE(c.attest(a, key.get()));
  auto r = c.get("/kbs/v0/resource/demo/key/one", "", c.token());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body.find("s3cret"), std::string::npos);
  auto audit = c.get("/kbs/v0/audit?limit=1", "", admin());
  ASSERT_EQ(audit.status, 200);
  auto entry = json::parse(audit.body).at(0);
  EXPECT_EQ(entry["decision"], "deny");
  EXPECT_NE(entry["reason"].get<std::string>().find("not in reference values"), std::string::npos);
  // The row carries the verified claims the decision was made on.
  ASSERT_TRUE(entry["claims"].is_object()) << entry.dump();
  EXPECT_EQ(entry["claims"]["measurement"], kOtherMeasurement);
  EXPECT_EQ(entry["claims"]["tee"], "sample");
  EXPECT_EQ(entry["claims"]["insecure"], true);
}

TEST_F(KbsTest, DebugModeAndLowSvnDenied) {
  start();
  provision();
  for (auto [svn, debug] : {std::pair{int64_t{0}, false}, std::pair{int64_t{5}, true}}) {
    auto key = jose::generate_p256().value();
    auto c = client();
    auto a = attester(kMeasurement, svn, debug);
    ASSERT_TRUE(c.attest(a, key.get()));
    EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", c.token()).status, 403);
  }
}

TEST_F(KbsTest, ResourceOutsidePolicyAndUnknownResource) {
  start();
  provision();
  auto key = jose::generate_p256().value();
  auto c = client();
  auto a = attester();
  ASSERT_TRUE(c.attest(a, key.get()));
  EXPECT_EQ(c.get("/kbs/v0/resource/other/key/one", "", c.token()).status, 403);  // tpm only
  EXPECT_EQ(c.get("/kbs/v0/resource/nomatch/key/one", "", c.token()).status, 403);
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/missing", "", c.token()).status, 404);
}

TEST_F(KbsTest, SampleRefusedByDefaultPolicy) {
  start();
  ASSERT_EQ(admin_post("/kbs/v0/resource/demo/key/one", "s3cret").status, 200);
  auto key = jose::generate_p256().value();
  auto c = client();
  auto a = attester();
  ASSERT_TRUE(c.attest(a, key.get()));
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", c.token()).status, 403);
}

TEST_F(KbsTest, ExpiredAndForgedTokensRefused) {
  start();
  provision();
  auto key = jose::generate_p256().value();
  auto jwk = jose::public_jwk(key.get()).value();
  auto c = client();
  auto a = attester();
  auto good = c.attest(a, key.get()).value();
  json claims = json::parse(
      crypto::unb64url(good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1))
          .value());
  auto token_key = crypto::load_private_pem(cfg_.state_dir + "/token-key.pem").value();
  json expired = claims;
  expired["exp"] = jose::now_seconds() - 1;
  auto r =
      c.get("/kbs/v0/resource/demo/key/one", "", jose::jwt_sign(token_key.get(), expired).value());
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("expired"), std::string::npos);
  auto forger = crypto::ed25519_generate().value();
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", jose::jwt_sign(forger.get(), claims).value())
                .status,
            401);
  // Tampered claims under the original signature.
  json raised = claims;
  raised["tcb"]["svn"] = 99;
  std::string tampered = good.substr(0, good.find('.') + 1) + crypto::b64url(raised.dump()) +
                         good.substr(good.rfind('.'));
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", tampered).status, 401);
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", "garbage").status, 401);
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one").status, 401);
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", good).status, 200);
}

TEST_F(KbsTest, PathTraversalRefused) {
  start();
  provision();
  auto key = jose::generate_p256().value();
  auto c = client();
  auto a = attester();
  ASSERT_TRUE(c.attest(a, key.get()));
  for (const char* p : {"demo/key/../key/one", "demo/../demo/key/one", "../demo/key/one",
                        "demo/key/..", "demo/key/%2e%2e", "demo/%2e%2e/key/one", "demo/key/one/",
                        "demo//one", "demo/key/one/extra", "demo/key/o%00ne"}) {
    auto r = c.get(std::string("/kbs/v0/resource/") + p, "", c.token());
    EXPECT_TRUE(r.status == 400 || r.status == 404) << p << " -> " << r.status;
    EXPECT_EQ(r.body.find("s3cret"), std::string::npos);
  }
  EXPECT_EQ(admin_post("/kbs/v0/resource/demo/key/..", "x").status, 400);
  EXPECT_EQ(admin_post("/kbs/v0/resource/../../etc/passwd", "x").status, 400);
}

TEST_F(KbsTest, MalformedAndOversizedJsonRefused) {
  cfg_.max_body = 4096;
  start();
  provision();
  auto c = client();
  EXPECT_EQ(c.post("/kbs/v0/auth", "{not json").status, 400);
  EXPECT_EQ(c.post("/kbs/v0/auth", "[1,2]").status, 400);
  EXPECT_EQ(c.post("/kbs/v0/auth", R"({"version":"0.1.0"})").status, 400);
  EXPECT_EQ(c.post("/kbs/v0/auth", R"({"version":"9","tee":"sample"})").status, 400);
  EXPECT_EQ(c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"intel-tdx"})").status, 400);
  EXPECT_EQ(c.post("/kbs/v0/auth", std::string(100000, '[')).status, 413);
  auto [cookie, nonce] = auth(c);
  EXPECT_EQ(c.post("/kbs/v0/attest", "{\"tee-pubkey\":", cookie).status, 400);
  auto [cookie2, nonce2] = auth(c);
  EXPECT_EQ(
      c.post("/kbs/v0/attest",
             R"({"tee-pubkey":{"kty":"RSA","n":"AQAB","e":"AQAB"},"tee-evidence":{}})", cookie2)
          .status,
      400);
  auto m = c.get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("kbs_auth_requests_total"), std::string::npos);
}

}  // namespace kbstest

namespace kbstest {

TEST_F(KbsTest, ExpiredChallengeRefused) {
  cfg_.session_ttl = 1;
  start();
  provision();
  auto c = client();
  auto [cookie, nonce] = auth(c);
  auto key = jose::generate_p256().value();
  auto jwk = jose::public_jwk(key.get()).value();
  auto body = attest_body(nonce, jwk, jwk).dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(c.post("/kbs/v0/attest", body, cookie).status, 401);
}

TEST_F(KbsTest, JweForAnotherKeyCannotBeOpened) {
  start();
  provision();
  auto key = jose::generate_rsa(2048).value();
  auto c = client();
  auto a = attester();
  ASSERT_TRUE(c.attest(a, key.get()));
  auto r = c.get("/kbs/v0/resource/demo/key/one", "", c.token());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("s3cret"), std::string::npos);  // never in clear on the wire
  auto other = jose::generate_rsa(2048).value();
  EXPECT_FALSE(jose::jwe_decrypt(other.get(), json::parse(r.body)));
  EXPECT_EQ(jose::jwe_decrypt(key.get(), json::parse(r.body)).value(), "s3cret");
}

}  // namespace kbstest

namespace kbstest {

// The KBS takes SEV-SNP evidence (AMD's roots pinned, the VCEK in the evidence) and holds it to
// the session: a real, genuinely signed report made for another nonce and key is refused, and
// the reason says so — replay of hardware evidence gets no token.
TEST_F(KbsTest, RealSnpReportForAnotherSessionRefused) {
  start();
  auto c = client();
  auto r = c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"snp","extra-params":""})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string cookie = c.last_set_cookie();
  std::string snp = std::string(VEIL_TEE_DATA) + "/snp/";
  json ev = {{"format", "veil-snp-v1"},
             {"report", crypto::b64url(read_file(snp + "test-report.bin").value())},
             {"vcek", crypto::b64url(read_file(snp + "test-vcek.der").value())}};
  auto key = jose::generate_p256().value();
  json body = {{"tee-pubkey", jose::public_jwk(key.get()).value()}, {"tee-evidence", ev}};
  auto a = c.post("/kbs/v0/attest", body.dump(), cookie);
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_NE(a.body.find("report data does not bind"), std::string::npos) << a.body;
  // The same report with one bit of its signature flipped fails earlier, on the signature.
  auto r2 = c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"snp","extra-params":""})");
  ASSERT_EQ(r2.status, 200) << r2.body;
  std::string report = read_file(snp + "test-report.bin").value();
  report[0x2A0] ^= 1;
  ev["report"] = crypto::b64url(report);
  body["tee-evidence"] = ev;
  auto a2 = c.post("/kbs/v0/attest", body.dump(), c.last_set_cookie());
  EXPECT_EQ(a2.status, 401) << a2.body;
  EXPECT_NE(a2.body.find("signature"), std::string::npos) << a2.body;
}

// A real TDX quote (Intel-signed, made for another session) over RCAR: the chain and signatures
// pass, the binding does not; the same quote with one bit of its signature flipped fails on the
// signature. SGX is offered too.
TEST_F(KbsTest, RealTdxQuoteForAnotherSessionRefused) {
  start();
  auto c = client();
  auto r = c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"tdx","extra-params":""})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string quote = read_file(std::string(VEIL_TEE_DATA) + "/tdx/tdx_quote_4.dat").value();
  json ev = {{"format", "veil-tdx-v1"}, {"quote", crypto::b64url(quote)}};
  auto key = jose::generate_p256().value();
  json body = {{"tee-pubkey", jose::public_jwk(key.get()).value()}, {"tee-evidence", ev}};
  auto a = c.post("/kbs/v0/attest", body.dump(), c.last_set_cookie());
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_NE(a.body.find("report data does not bind"), std::string::npos) << a.body;
  auto r2 = c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"tdx","extra-params":""})");
  ASSERT_EQ(r2.status, 200) << r2.body;
  quote[48 + 584 + 4] ^= 1;  // first byte of the quote signature
  body["tee-evidence"]["quote"] = crypto::b64url(quote);
  auto a2 = c.post("/kbs/v0/attest", body.dump(), c.last_set_cookie());
  EXPECT_EQ(a2.status, 401) << a2.body;
  EXPECT_NE(a2.body.find("signature"), std::string::npos) << a2.body;
  auto r3 = c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"sgx","extra-params":""})");
  EXPECT_EQ(r3.status, 200) << r3.body;
}

}  // namespace kbstest
