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
