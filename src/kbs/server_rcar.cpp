// RCAR: POST /kbs/v0/auth, POST /kbs/v0/attest, GET /kbs/v0/resource/<repo>/<type>/<tag>.
#include <httplib.h>

#include "kbs/jose.hpp"
#include "kbs/server.hpp"

namespace veil::kbs {

using attest::json;

namespace {

std::string session_cookie(const httplib::Request& req) {
  std::string cookies = req.get_header_value("Cookie");
  const std::string key = "kbs-session-id=";
  size_t pos = 0;
  while ((pos = cookies.find(key, pos)) != std::string::npos) {
    if (pos == 0 || cookies[pos - 1] == ' ' || cookies[pos - 1] == ';') {
      size_t start = pos + key.size();
      size_t end = cookies.find(';', start);
      return cookies.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
    pos += key.size();
  }
  return "";
}

// Parses a JSON object body; on failure answers 400 and returns nullopt.
std::optional<json> body_object(const httplib::Request& req, httplib::Response& res) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    problem(res, 400, "InvalidRequest", "body is not a JSON object");
    return std::nullopt;
  }
  return j;
}

}  // namespace

void Server::on_auth(const httplib::Request& req, httplib::Response& res) {
  metrics_.auth++;
  auto j = body_object(req, res);
  if (!j) return;
  if (!j->contains("version") || !(*j)["version"].is_string() ||
      !(*j)["version"].get<std::string>().starts_with("0."))
    return problem(res, 400, "ProtocolVersion", "unsupported or missing protocol version");
  if (!j->contains("tee") || !(*j)["tee"].is_string())
    return problem(res, 400, "InvalidRequest", "missing 'tee'");
  std::string tee = (*j)["tee"];
  if (!verifiers_.has(tee))
    return problem(res, 400, "UnsupportedTee", "no verifier for TEE '" + tee + "' is enabled");
  int64_t now = jose::now_seconds();
  Session s;
  s.tee = tee;
  s.nonce = crypto::b64url(crypto::random_bytes(32));
  s.expires = now + cfg_.session_ttl;
  std::string nonce = s.nonce;
  auto id = sessions_.create(std::move(s), now);
  if (!id) return problem(res, 503, "Busy", "too many sessions");
  res.set_header("Set-Cookie", "kbs-session-id=" + *id +
                                   "; Path=/kbs; Max-Age=" + std::to_string(cfg_.session_ttl) +
                                   "; HttpOnly" + (cfg_.tls ? "; Secure" : ""));
  res.set_content(json{{"nonce", nonce}, {"extra-params", json::object()}}.dump(),
                  "application/json");
}

void Server::on_attest(const httplib::Request& req, httplib::Response& res) {
  std::string id = session_cookie(req);
  int64_t now = jose::now_seconds();
  Session snapshot;
  bool found = sessions_.with(id, now, [&](Session& s) {
    snapshot = s;
    // One attempt per challenge, whatever its outcome: a nonce is never answered twice.
    if (s.state == Session::State::challenged) s.state = Session::State::failed;
  });
  if (id.empty() || !found) {
    metrics_.attest_fail++;
    return problem(res, 401, "InvalidCookie", "no valid kbs-session-id cookie; call /auth first");
  }
  if (snapshot.state != Session::State::challenged) {
    metrics_.attest_fail++;
    return problem(res, 401, "InvalidCookie", "this session's challenge was already answered");
  }
  auto j = body_object(req, res);
  if (!j) return void(metrics_.attest_fail++);
  if (!j->contains("tee-pubkey") || !j->contains("tee-evidence")) {
    metrics_.attest_fail++;
    return problem(res, 400, "InvalidRequest", "need 'tee-pubkey' and 'tee-evidence'");
  }
  json pubkey = (*j)["tee-pubkey"];
  json evidence = (*j)["tee-evidence"];
  if (evidence.is_string()) evidence = json::parse(evidence.get<std::string>(), nullptr, false);
  std::string alg;
  auto key = jose::jwk_to_public(pubkey, &alg);
  if (!key) {
    metrics_.attest_fail++;
    return problem(res, 400, "InvalidTeePubKey", key.error().str());
  }
  auto claims =
      verifiers_.verify(snapshot.tee, evidence, attest::report_data(snapshot.nonce, pubkey));
  if (!claims) {
    metrics_.attest_fail++;
    store_->audit({now, id, "", snapshot.tee, "", "attest-deny", claims.error().str(), ""});
    return problem(res, 401, "AttestationFailed", claims.error().str());
  }
  json token_claims = {
      {"iss", cfg_.issuer},          {"iat", now},
      {"exp", now + cfg_.token_ttl}, {"jti", crypto::b64url(crypto::random_bytes(16))},
      {"tee-pubkey", pubkey},        {"tcb", claims->to_json()}};
  auto token = jose::jwt_sign(token_key_.get(), token_claims);
  if (!token) return problem(res, 500, "InternalError", token.error().str());
  sessions_.with(id, now, [&](Session& s) {
    s.state = Session::State::attested;
    s.claims = *claims;
    s.tee_pubkey = pubkey;
    s.expires = now + cfg_.token_ttl;
  });
  metrics_.attest_ok++;
  res.set_content(json{{"token", *token}}.dump(), "application/json");
}

void Server::on_get_resource(const httplib::Request& req, httplib::Response& res) {
  int64_t now = jose::now_seconds();
  attest::Claims claims;
  json pubkey;
  std::string who;
  std::string auth = req.get_header_value("Authorization");
  if (auth.starts_with("Bearer ")) {
    auto c = jose::jwt_verify(token_key_.get(), auth.substr(7), now);
    if (!c || !c->contains("tcb") || !c->contains("tee-pubkey") || !(*c)["tcb"].is_object()) {
      metrics_.res_401++;
      return problem(res, 401, "TokenInvalid", c ? "token lacks claims" : c.error().str());
    }
    const json& t = (*c)["tcb"];
    claims = attest::Claims::from_json(t);
    pubkey = (*c)["tee-pubkey"];
    who = "jti:" + c->value("jti", "");
  } else {
    std::string id = session_cookie(req);
    bool ok = false;
    sessions_.with(id, now, [&](Session& s) {
      if (s.state != Session::State::attested) return;
      ok = true;
      claims = s.claims;
      pubkey = s.tee_pubkey;
    });
    if (id.empty() || !ok) {
      metrics_.res_401++;
      return problem(res, 401, "Unauthorized", "attest first (token or attested session cookie)");
    }
    who = "session:" + id;
  }
  std::string path = req.matches[1];
  if (!valid_resource_path(path)) {
    metrics_.res_400++;
    return problem(res, 400, "InvalidResourcePath", "resource path must be repository/type/tag");
  }
  auto d = policy()->evaluate(path, claims, [&](const std::string& m) {
    auto r = store_->has_reference_value(m);
    return r && *r;
  });
  auto audited = store_->audit({now, who, path, claims.tee, claims.measurement,
                                d.allow ? "allow" : "deny", d.reason, claims.to_json().dump()});
  if (!audited) return problem(res, 500, "InternalError", "audit log unavailable");
  if (!d.allow) {
    metrics_.res_403++;
    return problem(res, 403, "PolicyDeny", d.reason);
  }
  auto data = store_->get_resource(path);
  if (!data) return problem(res, 500, "InternalError", data.error().str());
  if (!*data) {
    metrics_.res_404++;
    return problem(res, 404, "ResourceNotFound", "no resource " + path);
  }
  auto jwe = jose::jwe_encrypt(pubkey, **data);
  if (!jwe) return problem(res, 400, "InvalidTeePubKey", jwe.error().str());
  metrics_.res_ok++;
  res.set_content(jwe->dump(), "application/json");
}

}  // namespace veil::kbs
