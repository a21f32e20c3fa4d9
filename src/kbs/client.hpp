// A KBS client (RCAR + admin calls), used by `veil-kbs get-resource|admin`, the tests and bench.
#pragma once

#include <memory>
#include <string>

#include "attest/attest.hpp"
#include "attest/crypto.hpp"

namespace httplib {
class Client;
}

namespace veil::kbs {

struct ClientOptions {
  std::string url;      // http://127.0.0.1:8080 or https://...
  std::string ca_cert;  // PEM bundle to verify an https server (e.g. the KBS's tls.crt)
};

struct HttpReply {
  int status = 0;  // 0: transport error
  std::string body;
};

class Client {
 public:
  explicit Client(const ClientOptions& opts);
  ~Client();
  // RCAR: /auth then /attest with evidence from `attester` bound to `tee_key`'s public JWK.
  // Returns the attestation token; the session cookie is kept for later calls.
  Result<std::string> attest(attest::Attester& attester, EVP_PKEY* tee_key);
  // GET a resource with the token from attest() and decrypt the JWE with tee_key.
  Result<std::string> get_resource(const std::string& path, EVP_PKEY* tee_key);

  // Raw calls (tests use these to misbehave on purpose).
  HttpReply post(const std::string& path, const std::string& body, const std::string& cookie = "",
                 const std::string& bearer = "", const std::string& type = "application/json");
  HttpReply get(const std::string& path, const std::string& cookie = "",
                const std::string& bearer = "");

  const std::string& cookie() const { return cookie_; }
  const std::string& token() const { return token_; }
  // kbs-session-id from the last POST's Set-Cookie (empty if none).
  const std::string& last_set_cookie() const { return last_set_cookie_; }

 private:
  std::unique_ptr<httplib::Client> http_;
  std::string cookie_, token_;
  std::string last_set_cookie_;
};

// An admin token: EdDSA JWT signed with the admin private key, valid for ttl seconds.
Result<std::string> admin_token(EVP_PKEY* admin_key, int64_t ttl = 300);

}  // namespace veil::kbs
