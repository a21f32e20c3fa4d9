#include "attest/attest.hpp"

#include "attest/crypto.hpp"

namespace veil::attest {

json Claims::to_json() const {
  return json{{"tee", tee}, {"measurement", measurement}, {"debug", debug},
              {"svn", svn}, {"insecure", insecure},       {"details", details}};
}

void VerifierSet::add(std::unique_ptr<Verifier> v) {
  std::string name = v->tee();
  verifiers_[name] = std::move(v);
}

Result<Claims> VerifierSet::verify(const std::string& tee, const json& evidence,
                                   std::string_view expected_report_data) const {
  auto it = verifiers_.find(tee);
  if (it == verifiers_.end()) return fail("no verifier for TEE '" + tee + "'");
  auto c = it->second->verify(evidence, expected_report_data);
  if (!c) return std::unexpected(c.error().wrap(tee + " evidence"));
  c->tee = tee;
  return c;
}

std::string canonical(const json& j) {
  // nlohmann::json stores objects in a std::map: dump() emits keys sorted, compactly.
  return j.dump(-1, ' ', false, json::error_handler_t::strict);
}

std::string report_data(std::string_view nonce, const json& tee_pubkey) {
  crypto::Sha256 h;
  h.update(nonce);
  h.update(canonical(tee_pubkey));
  return h.final();
}

}  // namespace veil::attest
