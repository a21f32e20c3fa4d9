#include "attest/sample.hpp"

namespace veil::attest {

Result<json> SampleAttester::evidence(std::string_view report_data) {
  json body = {{"format", "veil-sample-v1"},
               {"insecure", true},
               {"measurement", measurement_},
               {"svn", svn_},
               {"debug", debug_},
               {"report_data", crypto::b64url(report_data)},
               {"signer", crypto::b64url(VEIL_TRY(crypto::ed25519_raw_public(key_.get())))}};
  auto sig = VEIL_TRY(crypto::ed25519_sign(key_.get(), canonical(body)));
  body["signature"] = crypto::b64url(sig);
  return body;
}

SampleVerifier::SampleVerifier(std::vector<std::string> trusted_raw_keys) {
  for (auto& raw : trusted_raw_keys)
    if (auto k = crypto::ed25519_from_raw_public(raw)) trusted_.emplace_back(raw, std::move(*k));
}

Result<Claims> SampleVerifier::verify_evidence(const json& evidence) {
  if (!evidence.is_object()) return fail("evidence is not a JSON object");
  for (const char* k : {"format", "measurement", "report_data", "signer", "signature"})
    if (!evidence.contains(k) || !evidence[k].is_string())
      return fail(std::string("missing or non-string field '") + k + "'");
  if (!evidence.contains("svn") || !evidence["svn"].is_number_integer())
    return fail("missing integer field 'svn'");
  if (!evidence.contains("debug") || !evidence["debug"].is_boolean())
    return fail("missing boolean field 'debug'");
  if (evidence["format"] != "veil-sample-v1") return fail("unknown format");

  json body = evidence;
  body.erase("signature");
  auto signer = VEIL_TRY(crypto::unb64url(evidence["signer"].get<std::string>()));
  auto sig = VEIL_TRY(crypto::unb64url(evidence["signature"].get<std::string>()));
  EVP_PKEY* key = nullptr;
  for (const auto& [raw, k] : trusted_)
    if (crypto::equal(raw, signer)) key = k.get();
  if (!key) return fail("signer is not a trusted sample key");
  if (!crypto::ed25519_verify(key, canonical(body), sig)) return fail("bad signature");
  Claims c;
  c.report_data = VEIL_TRY(crypto::unb64url(evidence["report_data"].get<std::string>()));
  c.tee = kSampleTee;
  c.measurement = evidence["measurement"].get<std::string>();
  c.svn = evidence["svn"].get<int64_t>();
  c.debug = evidence["debug"].get<bool>();
  c.insecure = true;
  return c;
}

}  // namespace veil::attest
