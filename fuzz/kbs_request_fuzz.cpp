// What a KBS client or admin sends: resource policies (JSON or YAML, the admin API's body), the
// agent's config file, and RCAR request bodies: /auth {"version","tee"} and /attest
// {"tee-pubkey": JWK, "tee-evidence": object or JSON string}, taken through the same steps as
// Server::on_auth/on_attest (server_rcar.cpp) without HTTP: JWK import, report data, then the
// sample and tpm verifiers on the evidence.
#include <memory>
#include <string>
#include <vector>

#include "attest/attest.hpp"
#include "attest/crypto.hpp"
#include "attest/sample.hpp"
#include "attest/tpm.hpp"
#include "common.hpp"
#include "kbs/agent/config.hpp"
#include "kbs/jose.hpp"
#include "kbs/policy.hpp"

using veil::attest::json;

namespace {

veil::attest::VerifierSet& verifiers() {
  static auto* set = [] {
    auto* s = new veil::attest::VerifierSet;
    auto key = veil::crypto::ed25519_generate();
    s->add(std::make_unique<veil::attest::SampleVerifier>(
        std::vector<std::string>{*veil::crypto::ed25519_raw_public(key->get())}));
    s->add(std::make_unique<veil::attest::TpmVerifier>(std::vector<veil::crypto::Pkey>{}));
    return s;
  }();
  return *set;
}

void rcar(json j) {
  if (!j.is_object()) return;
  if (j.contains("version") && j["version"].is_string())
    (void)j["version"].get<std::string>().starts_with("0.");
  std::string tee = j.contains("tee") && j["tee"].is_string() ? j["tee"].get<std::string>() : "";
  if (!j.contains("tee-pubkey") || !j.contains("tee-evidence")) return;
  json pubkey = j["tee-pubkey"];
  json evidence = j["tee-evidence"];
  if (evidence.is_string()) evidence = json::parse(evidence.get<std::string>(), nullptr, false);
  std::string alg;
  if (!veil::jose::jwk_to_public(pubkey, &alg)) return;
  std::string rd = veil::attest::report_data("fuzz-nonce", pubkey);
  for (const char* t : {"sample", "tpm"})
    (void)verifiers().verify(tee.empty() ? t : tee, evidence, rd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = veil::fuzz::text(data, size);
  (void)veil::kbs::Policy::parse(t);
  (void)veil::agent::parse_config(t, "fuzz.json");
  auto j = veil::fuzz::json_of(data, size);
  if (!j.is_discarded()) rcar(std::move(j));
  return 0;
}
