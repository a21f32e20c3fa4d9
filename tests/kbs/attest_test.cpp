// Attestation building blocks: sample evidence, JOSE round trips, measurement determinism.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "attest/crypto.hpp"
#include "attest/measure.hpp"
#include "attest/sample.hpp"
#include "attest/tpm.hpp"
#include "base/file.hpp"
#include "kbs/jose.hpp"

using namespace veil;
using attest::json;

TEST(Attest, SampleEvidenceVerifies) {
  auto key = crypto::ed25519_generate().value();
  auto pub = crypto::ed25519_raw_public(key.get()).value();
  attest::SampleAttester a(std::move(key), std::string(64, 'a'), 3);
  attest::SampleVerifier v({pub});
  json jwk = {{"kty", "EC"}, {"x", "1"}};
  auto rd = attest::report_data("nonce", jwk);
  auto ev = a.evidence(rd).value();
  auto c = v.verify(ev, rd);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->svn, 3);
  EXPECT_TRUE(c->insecure);
  EXPECT_FALSE(v.verify(ev, attest::report_data("other", jwk)));
  ev["svn"] = 9;
  EXPECT_FALSE(v.verify(ev, rd));
}

TEST(Attest, SampleEvidenceFromUntrustedKeyRefused) {
  auto key = crypto::ed25519_generate().value();
  attest::SampleAttester a(std::move(key), std::string(64, 'a'));
  attest::SampleVerifier v({std::string(32, 'x')});
  auto rd = attest::report_data("n", json::object());
  EXPECT_FALSE(v.verify(a.evidence(rd).value(), rd));
}

TEST(Jose, JweRoundTripRsaAndEc) {
  for (int kind = 0; kind < 2; kind++) {
    auto key = kind ? jose::generate_p256().value() : jose::generate_rsa(2048).value();
    auto jwk = jose::public_jwk(key.get()).value();
    auto jwe = jose::jwe_encrypt(jwk, "top secret").value();
    auto plain = jose::jwe_decrypt(key.get(), jwe);
    ASSERT_TRUE(plain) << plain.error().str();
    EXPECT_EQ(*plain, "top secret");
    auto ct = crypto::unb64url(jwe["ciphertext"].get<std::string>()).value();
    ct[0] ^= 1;
    jwe["ciphertext"] = crypto::b64url(ct);
    EXPECT_FALSE(jose::jwe_decrypt(key.get(), jwe));
  }
}

TEST(Jose, JwtSignVerifyExpiryForgery) {
  auto key = crypto::ed25519_generate().value();
  auto other = crypto::ed25519_generate().value();
  int64_t now = jose::now_seconds();
  auto tok = jose::jwt_sign(key.get(), {{"exp", now + 10}, {"sub", "x"}}).value();
  EXPECT_TRUE(jose::jwt_verify(key.get(), tok, now));
  EXPECT_FALSE(jose::jwt_verify(other.get(), tok, now));
  EXPECT_FALSE(jose::jwt_verify(key.get(), tok, now + 11));
  auto forged = jose::jwt_sign(other.get(), {{"exp", now + 10}}).value();
  EXPECT_FALSE(jose::jwt_verify(key.get(), forged, now));
  EXPECT_FALSE(jose::jwt_verify(key.get(), "a.b", now));
}

TEST(Measure, DeterministicAndSensitive) {
  char tmpl[] = "/tmp/veil-measure-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  mkdir_all(dir + "/rootfs/bin").value();
  write_file_atomic(dir + "/rootfs/bin/sh", "#!echo").value();
  symlink("sh", (dir + "/rootfs/bin/ash").c_str());
  write_file_atomic(dir + "/config.json", R"({"process":{"args":["sh"]},"root":{"path":"rootfs"}})")
      .value();
  auto m1 = attest::measure_bundle(dir).value();
  EXPECT_EQ(m1, attest::measure_bundle(dir).value());
  chmod((dir + "/rootfs/bin/sh").c_str(), 0755);
  auto m2 = attest::measure_bundle(dir).value();
  EXPECT_NE(m1, m2);
  write_file_atomic(dir + "/rootfs/bin/sh", "#!echo!", 0755).value();
  EXPECT_NE(m2, attest::measure_bundle(dir).value());
  remove_all(dir).value();
}

// Found by the fuzzers (fuzz/corpus/tpm/regression-format-array.json): a field of the wrong JSON
// type made nlohmann's value() throw out of the verifier, taking the key broker down. Now every
// such field is a refusal with a reason.
TEST(Attest, WrongFieldTypesAreRefusalsNotExceptions) {
  attest::TpmVerifier tpm({});
  auto r = tpm.verify(attest::json::parse(R"({"format":["abc","deA"]})"), "rd");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("not veil-tpm-v1"), std::string::npos) << r.error().msg;
  // A JWT whose header names its algorithm with an array; a JWE whose header does.
  std::string bad_header = crypto::b64url(R"({"alg":["EdDSA"]})");
  EXPECT_FALSE(jose::jwt_verify(nullptr, bad_header + ".e30.AAAA", 0).has_value());
  auto key = jose::generate_rsa(2048);
  ASSERT_TRUE(key.has_value());
  attest::json jwe = {{"protected", crypto::b64url(R"({"alg":1,"enc":["A256GCM"]})")},
                      {"encrypted_key", "AAAA"},
                      {"iv", "AAAAAAAAAAAAAAAA"},
                      {"ciphertext", "AAAA"},
                      {"tag", "AAAAAAAAAAAAAAAAAAAAAA"}};
  EXPECT_FALSE(jose::jwe_decrypt(key->get(), jwe).has_value());
}

// The token's "tcb" claim comes back as the claims the policy sees, details included; a token
// body with missing or mistyped fields takes the safe side.
TEST(Attest, ClaimsRoundTripThroughJsonAndFailSafe) {
  attest::Claims c;
  c.tee = "tpm";
  c.measurement = std::string(64, 'd');
  c.svn = 7;
  c.details = {{"log_length", 3}, {"reset_count", 1}};
  auto back = attest::Claims::from_json(c.to_json());
  EXPECT_EQ(back.tee, "tpm");
  EXPECT_EQ(back.measurement, c.measurement);
  EXPECT_EQ(back.svn, 7);
  EXPECT_FALSE(back.debug);
  EXPECT_FALSE(back.insecure);
  EXPECT_EQ(back.details["log_length"], 3);
  auto odd = attest::Claims::from_json(json::parse(R"({"tee":"tpm","debug":"no","svn":"9"})"));
  EXPECT_TRUE(odd.debug);
  EXPECT_TRUE(odd.insecure);
  EXPECT_EQ(odd.svn, 0);
  EXPECT_TRUE(odd.details.empty());
}

// The one binding rule: the 32 bytes first, zeros after them in a longer (64-byte) field.
TEST(Attest, ReportDataBindingAllowsOnlyZerosAfterTheDigest) {
  std::string rd = crypto::sha256("x");
  EXPECT_TRUE(attest::check_binding(rd, rd));
  EXPECT_TRUE(attest::check_binding(rd + std::string(32, '\0'), rd));
  std::string tail = rd + std::string(32, '\0');
  tail[63] = 1;
  EXPECT_FALSE(attest::check_binding(tail, rd));
  EXPECT_FALSE(attest::check_binding(rd.substr(0, 31), rd));
  EXPECT_FALSE(attest::check_binding(crypto::sha256("y") + std::string(32, '\0'), rd));
  EXPECT_FALSE(attest::check_binding(rd, ""));
}
