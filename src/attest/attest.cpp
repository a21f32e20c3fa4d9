#include "attest/attest.hpp"

#include "attest/crypto.hpp"
#include "attest/json_get.hpp"

namespace veil::attest {

json Claims::to_json() const {
  return json{{"tee", tee}, {"measurement", measurement}, {"debug", debug},
              {"svn", svn}, {"insecure", insecure},       {"details", details}};
}

Result<> check_binding(std::string_view field, std::string_view expected) {
  if (expected.empty()) return fail("no report data to bind (internal error)");
  bool ok =
      field.size() >= expected.size() && crypto::equal(field.substr(0, expected.size()), expected);
  for (size_t i = expected.size(); ok && i < field.size(); i++) ok = field[i] == '\0';
  if (!ok) return fail("report data does not bind this session's nonce and tee-pubkey");
  return {};
}

Result<Claims> Verifier::verify(const json& evidence, std::string_view expected_report_data) {
  auto c = VEIL_TRY(verify_evidence(evidence));
  VEIL_CHECK(check_binding(c.report_data, expected_report_data));
  return c;
}

Claims Claims::from_json(const json& j) {
  Claims c;
  c.tee = string_or(j, "tee");
  c.measurement = string_or(j, "measurement");
  c.debug = bool_or(j, "debug", true);
  c.insecure = bool_or(j, "insecure", true);
  auto svn = j.is_object() ? j.find("svn") : j.end();
  c.svn = svn != j.end() && svn->is_number_integer() ? svn->get<int64_t>() : 0;
  auto d = j.is_object() ? j.find("details") : j.end();
  if (d != j.end() && d->is_object()) c.details = *d;
  return c;
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
