// Policy parsing (JSON and YAML) and first-match evaluation, without a server.
#include "kbs/policy.hpp"

#include <gtest/gtest.h>

using namespace veil;

namespace {
attest::Claims claims(std::string tee, std::string m, int64_t svn = 1, bool debug = false) {
  attest::Claims c;
  c.tee = std::move(tee);
  c.measurement = std::move(m);
  c.svn = svn;
  c.debug = debug;
  return c;
}
const std::string kA(64, 'a'), kB(64, 'b');
}  // namespace

TEST(Policy, YamlAndJsonAgreeFirstMatchWins) {
  std::string yaml =
      "rules:\n"
      "  - resource: 'prod/keys/special'\n"
      "    tees: [tpm]\n"
      "    measurements: ['" +
      kB +
      "']\n"
      "  - resource: 'prod/*/*'\n"
      "    tees: [tpm, sample]\n"
      "    measurements: any\n"
      "    min_svn: 2\n";
  std::string json =
      R"({"rules":[{"resource":"prod/keys/special","tees":["tpm"],"measurements":[")" + kB +
      R"("]},{"resource":"prod/*/*","tees":["tpm","sample"],"measurements":"any","min_svn":2}]})";
  for (const auto& text : {yaml, json}) {
    auto p = kbs::Policy::parse(text);
    ASSERT_TRUE(p) << p.error().str();
    auto never = [](const std::string&) { return false; };
    EXPECT_FALSE(p->evaluate("prod/keys/special", claims("tpm", kA, 5), never).allow);
    EXPECT_TRUE(p->evaluate("prod/keys/special", claims("tpm", kB, 0), never).allow);
    EXPECT_TRUE(p->evaluate("prod/keys/other", claims("sample", kA, 2), never).allow);
    EXPECT_FALSE(p->evaluate("prod/keys/other", claims("sample", kA, 1), never).allow);
    EXPECT_FALSE(p->evaluate("prod/keys/other", claims("tpm", kA, 9, true), never).allow);
    EXPECT_FALSE(p->evaluate("prod/keys/a/b", claims("tpm", kA, 9), never).allow);  // * stops at /
    auto d = p->evaluate("dev/keys/x", claims("tpm", kA, 9), never);
    EXPECT_FALSE(d.allow);
    EXPECT_NE(d.reason.find("no policy rule"), std::string::npos);
  }
}

TEST(Policy, ReferenceValuesByDefaultAndEmptyPolicyDenies) {
  auto p = kbs::Policy::parse("rules:\n  - resource: '*/*/*'\n    tees: [tpm]\n").value();
  auto known = [](const std::string& m) { return m == kA; };
  EXPECT_TRUE(p.evaluate("a/b/c", claims("tpm", kA), known).allow);
  EXPECT_FALSE(p.evaluate("a/b/c", claims("tpm", kB), known).allow);
  EXPECT_FALSE(p.evaluate("a/b/c", claims("sample", kA), known).allow);
  auto empty = kbs::Policy::parse(R"({"rules":[]})").value();
  EXPECT_FALSE(empty.evaluate("a/b/c", claims("tpm", kA), known).allow);
}

TEST(Policy, PerTeeClaimRequirements) {
  auto p = kbs::Policy::parse(R"(
rules:
  - resource: 'prod/*/*'
    tees: [snp, sgx, tdx]
    measurements: any
    claims:
      snp:
        reported_tcb.snp: {min: 8}
        id_key_digest: [AABB, 'ccdd']
        policy.smt: false
      sgx:
        mr_signer: 'DC9E'
        isv_svn: {min: 2, max: 9}
      tdx:
        tcb_status: [UpToDate, SWHardeningNeeded]
)");
  ASSERT_TRUE(p) << p.error().str();
  auto never = [](const std::string&) { return false; };
  attest::Claims snp = claims("snp", std::string(96, 'a'));
  snp.details = {{"reported_tcb.snp", 8}, {"id_key_digest", "aabb"}, {"policy.smt", false}};
  EXPECT_TRUE(p->evaluate("prod/k/1", snp, never).allow);
  snp.details["reported_tcb.snp"] = 7;
  auto d = p->evaluate("prod/k/1", snp, never);
  EXPECT_FALSE(d.allow);
  EXPECT_NE(d.reason.find("reported_tcb.snp 7 below minimum 8"), std::string::npos) << d.reason;
  snp.details["reported_tcb.snp"] = 9;
  snp.details["id_key_digest"] = "eeff";
  EXPECT_FALSE(p->evaluate("prod/k/1", snp, never).allow);
  snp.details["id_key_digest"] = "CCDD";  // hex in either case
  EXPECT_TRUE(p->evaluate("prod/k/1", snp, never).allow);
  snp.details.erase("policy.smt");
  d = p->evaluate("prod/k/1", snp, never);
  EXPECT_FALSE(d.allow);
  EXPECT_NE(d.reason.find("policy.smt missing"), std::string::npos) << d.reason;

  attest::Claims sgx = claims("sgx", kA, 3);
  sgx.details = {{"mr_signer", "dc9e"}, {"isv_svn", 3}};
  EXPECT_TRUE(p->evaluate("prod/k/1", sgx, never).allow);
  sgx.details["isv_svn"] = 10;
  EXPECT_FALSE(p->evaluate("prod/k/1", sgx, never).allow);
  sgx.details["isv_svn"] = 2;
  sgx.details["mr_signer"] = "0000";
  EXPECT_FALSE(p->evaluate("prod/k/1", sgx, never).allow);

  attest::Claims tdx = claims("tdx", std::string(96, 'b'), 0);
  for (auto [status, ok] : std::vector<std::pair<std::string, bool>>{{"UpToDate", true},
                                                                     {"SWHardeningNeeded", true},
                                                                     {"OutOfDate", false},
                                                                     {"unknown", false}}) {
    tdx.details = {{"tcb_status", status}};
    EXPECT_EQ(p->evaluate("prod/k/1", tdx, never).allow, ok) << status;
  }
  // A debug TD is refused even when every claim requirement holds.
  tdx.details = {{"tcb_status", "UpToDate"}};
  tdx.debug = true;
  EXPECT_FALSE(p->evaluate("prod/k/1", tdx, never).allow);
}

TEST(Policy, BadClaimRequirementsNamed) {
  for (auto [text, where] : std::vector<std::pair<std::string, std::string>>{
           {R"({"rules":[{"resource":"*","tees":["snp"],"claims":[]}]})", "rules[0].claims"},
           {R"({"rules":[{"resource":"*","tees":["snp"],"claims":{"snp":{"x":[]}}}]})",
            "claims.snp.x: an empty list"},
           {R"({"rules":[{"resource":"*","tees":["snp"],"claims":{"snp":{"x":{"least":1}}}}]})",
            "unknown bound 'least'"},
           {R"({"rules":[{"resource":"*","tees":["snp"],"claims":{"snp":{"x":{"min":"1"}}}}]})",
            "x.min: a number"},
           {R"({"rules":[{"resource":"*","tees":["snp"],"measurements":["abc"]}]})",
            "64 or 96 hex digits"}}) {
    auto p = kbs::Policy::parse(text);
    ASSERT_FALSE(p) << text;
    EXPECT_NE(p.error().str().find(where), std::string::npos) << p.error().str();
  }
}

TEST(Policy, FortyEightByteMeasurementsListed) {
  std::string m(96, 'A');
  auto p = kbs::Policy::parse(R"({"rules":[{"resource":"*/*/*","tees":["tdx"],"measurements":[")" +
                              m + R"("]}]})");
  ASSERT_TRUE(p) << p.error().str();
  auto never = [](const std::string&) { return false; };
  EXPECT_TRUE(p->evaluate("a/b/c", claims("tdx", std::string(96, 'a'), 0), never).allow);
  EXPECT_FALSE(p->evaluate("a/b/c", claims("tdx", std::string(96, 'b'), 0), never).allow);
}
