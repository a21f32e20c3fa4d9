// `veil-kbs verify`: one piece of evidence checked offline, as the KBS would, with its claims
// printed as JSON, or the failed check named (exit 1). The operator's tool for a refusal.
// sample, tpm, snp, tdx and sgx evidence (docs/attestation.md).
#include <sys/stat.h>

#include <cstdio>

#include "attest/dcap/verifier.hpp"
#include "attest/sample.hpp"
#include "attest/snp/verifier.hpp"
#include "attest/tpm.hpp"
#include "base/file.hpp"
#include "kbs/cli/commands.hpp"

namespace veil::kbs::cli {

using attest::json;

namespace {

// Unix seconds, or a UTC time YYYY-MM-DDTHH:MM:SSZ.
Result<int64_t> parse_time(const std::string& s) {
  char* end = nullptr;
  long long v = strtoll(s.c_str(), &end, 10);
  if (!s.empty() && *end == '\0') return v;
  auto t = attest::dcap::parse_time(s);
  if (!t) return fail("--at: '" + s + "' is neither Unix seconds nor YYYY-MM-DDTHH:MM:SSZ");
  return *t;
}

Result<std::string> collateral_dir(const std::string& dir) {
  struct stat st;
  if (!dir.empty() && (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    return fail("--collateral " + dir + ": not a directory");
  return dir;
}

Result<std::unique_ptr<attest::Verifier>> make_verifier(const std::string& tee,
                                                        const VerifyArgs& a) {
  if (tee == attest::kSampleTee) {
    if (a.trusted_key.empty()) return fail("--trusted-key B64URL is required for sample evidence");
    auto raw = VEIL_TRY(crypto::unb64url(a.trusted_key));
    return std::unique_ptr<attest::Verifier>(new attest::SampleVerifier({raw}));
  }
  if (tee == attest::kTpmTee) {
    if (a.ak.empty()) return fail("--ak PEM is required for tpm evidence");
    auto v = std::make_unique<attest::TpmVerifier>(std::vector<crypto::Pkey>{});
    VEIL_CHECK(v->enroll(VEIL_TRY(crypto::load_public_pem(a.ak))));
    return std::unique_ptr<attest::Verifier>(std::move(v));
  }
  if (tee == attest::snp::kTee) {
    attest::snp::Options o;
    o.collateral_dir = VEIL_TRY(collateral_dir(a.collateral));
    if (!a.at.empty()) o.at = VEIL_TRY(parse_time(a.at));
    return std::unique_ptr<attest::Verifier>(new attest::snp::SnpVerifier(o));
  }
  if (tee == attest::dcap::kTdxTee || tee == attest::dcap::kSgxTee) {
    attest::dcap::Options o;
    o.collateral_dir = VEIL_TRY(collateral_dir(a.collateral));
    if (!a.at.empty()) o.at = VEIL_TRY(parse_time(a.at));
    if (tee == attest::dcap::kTdxTee)
      return std::unique_ptr<attest::Verifier>(new attest::dcap::TdxVerifier(o));
    return std::unique_ptr<attest::Verifier>(new attest::dcap::SgxVerifier(o));
  }
  return fail("unknown TEE '" + tee + "' (sample, tpm, snp, tdx, sgx)");
}

}  // namespace

int verify(const VerifyArgs& a) {
  auto die = [](const std::string& msg) {
    fprintf(stderr, "veil-kbs: verify: %s\n", msg.c_str());
    return 1;
  };
  auto verifier = make_verifier(a.tee, a);
  if (!verifier) return die(verifier.error().str());
  auto bytes = read_file(a.evidence);
  if (!bytes) return die(bytes.error().str());
  // JSON as a client sends it in /attest, or the raw SNP report or DCAP quote.
  auto evidence = json::parse(*bytes, nullptr, false);
  if (evidence.is_discarded() && a.tee == attest::snp::kTee)
    evidence = attest::snp::evidence_from(*bytes);
  if (evidence.is_discarded() && a.tee == attest::dcap::kTdxTee)
    evidence = attest::dcap::tdx_evidence(*bytes);
  if (evidence.is_discarded() && a.tee == attest::dcap::kSgxTee)
    evidence = attest::dcap::sgx_evidence(*bytes);
  if (evidence.is_discarded()) return die(a.evidence + ": not JSON evidence");
  auto claims = (*verifier)->verify_evidence(evidence);
  if (!claims) return die(a.tee + " evidence: " + claims.error().str());
  json out = {{"tee", a.tee}, {"claims", claims->to_json()}};
  out["report_data"] = crypto::hex(claims->report_data);
  if (a.report_data.empty()) {
    out["report_data_checked"] = false;
  } else {
    auto want = crypto::unhex(a.report_data);
    if (!want || want->empty() || want->size() > claims->report_data.size())
      return die("--report-data: " + std::to_string(claims->report_data.size()) +
                 " bytes or fewer of hex");
    if (auto bound = attest::check_binding(claims->report_data, *want); !bound)
      return die(a.tee + " evidence: " + bound.error().str() + " (report data " +
                 crypto::hex(claims->report_data) + ")");
    out["report_data_checked"] = true;
  }
  printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace veil::kbs::cli
