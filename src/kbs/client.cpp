#include "kbs/client.hpp"

#include <httplib.h>

#include "attest/json_get.hpp"
#include "kbs/jose.hpp"

namespace veil::kbs {

using attest::json;

Client::Client(const ClientOptions& opts) : http_(std::make_unique<httplib::Client>(opts.url)) {
  http_->set_connection_timeout(5, 0);
  http_->set_read_timeout(10, 0);
  http_->set_keep_alive(true);
  http_->set_tcp_nodelay(true);
  if (!opts.ca_cert.empty()) {
    http_->set_ca_cert_path(opts.ca_cert.c_str());
    http_->enable_server_certificate_verification(true);
  }
}

Client::~Client() = default;

static httplib::Headers headers(const std::string& cookie, const std::string& bearer) {
  httplib::Headers h;
  if (!cookie.empty()) h.emplace("Cookie", "kbs-session-id=" + cookie);
  if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
  return h;
}

static std::string cookie_from(const httplib::Result& r) {
  std::string v = r->get_header_value("Set-Cookie");
  const std::string key = "kbs-session-id=";
  if (!v.starts_with(key)) return "";
  return v.substr(key.size(), v.find(';') - key.size());
}

HttpReply Client::post(const std::string& path, const std::string& body, const std::string& cookie,
                       const std::string& bearer, const std::string& type) {
  auto r = http_->Post(path, headers(cookie, bearer), body, type);
  if (!r) return {};
  last_set_cookie_ = cookie_from(r);
  return {r->status, r->body};
}

HttpReply Client::get(const std::string& path, const std::string& cookie,
                      const std::string& bearer) {
  auto r = http_->Get(path, headers(cookie, bearer));
  if (!r) return {};
  return {r->status, r->body};
}

static Error reply_error(const std::string& what, const HttpReply& r) {
  if (r.status == 0) return Error{what + ": cannot reach the KBS"};
  json j = json::parse(r.body, nullptr, false);
  std::string detail = attest::string_or(j, "detail", r.body);
  return Error{what + ": HTTP " + std::to_string(r.status) + ": " + detail};
}

Result<std::string> Client::attest(attest::Attester& attester, EVP_PKEY* tee_key) {
  auto a = post("/kbs/v0/auth",
                json{{"version", "0.1.0"}, {"tee", attester.tee()}, {"extra-params", ""}}.dump());
  if (a.status != 200) return std::unexpected(reply_error("auth", a));
  cookie_ = last_set_cookie_;
  json challenge = json::parse(a.body, nullptr, false);
  if (!challenge.is_object() || !challenge.contains("nonce") || !challenge["nonce"].is_string())
    return fail("auth: malformed challenge");
  auto jwk = VEIL_TRY(jose::public_jwk(tee_key));
  auto evidence =
      VEIL_TRY(attester.evidence(attest::report_data(challenge["nonce"].get<std::string>(), jwk)));
  auto r =
      post("/kbs/v0/attest", json{{"tee-pubkey", jwk}, {"tee-evidence", evidence}}.dump(), cookie_);
  if (r.status != 200) return std::unexpected(reply_error("attest", r));
  json t = json::parse(r.body, nullptr, false);
  if (!t.is_object() || !t.contains("token") || !t["token"].is_string())
    return fail("attest: malformed token response");
  token_ = t["token"];
  return token_;
}

Result<std::string> Client::get_resource(const std::string& path, EVP_PKEY* tee_key) {
  auto r = get("/kbs/v0/resource/" + path, "", token_);
  if (r.status != 200) return std::unexpected(reply_error("resource " + path, r));
  json jwe = json::parse(r.body, nullptr, false);
  return jose::jwe_decrypt(tee_key, jwe);
}

Result<std::string> admin_token(EVP_PKEY* admin_key, int64_t ttl) {
  int64_t now = jose::now_seconds();
  return jose::jwt_sign(admin_key, {{"iat", now}, {"exp", now + ttl}, {"sub", "admin"}});
}

}  // namespace veil::kbs
