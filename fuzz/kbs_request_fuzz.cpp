// What a KBS client or admin sends: resource policies (JSON or YAML, the admin API's body), the
// agent's config file, and the tee-pubkey JWK of an RCAR attestation request.
#include "common.hpp"
#include "kbs/agent/config.hpp"
#include "kbs/jose.hpp"
#include "kbs/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = veil::fuzz::text(data, size);
  (void)veil::kbs::Policy::parse(t);
  (void)veil::agent::parse_config(t, "fuzz.json");
  auto j = veil::fuzz::json_of(data, size);
  if (!j.is_discarded()) {
    std::string alg;
    (void)veil::jose::jwk_to_public(j, &alg);
    if (j.is_object() && j.contains("tee-pubkey"))
      (void)veil::jose::jwk_to_public(j["tee-pubkey"], &alg);
  }
  return 0;
}
