// The veil-kbs HTTP(S) server: RCAR protocol (auth, attest, resource), admin API, /metrics.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>

#include "attest/attest.hpp"
#include "attest/crypto.hpp"
#include "attest/tpm.hpp"
#include "kbs/config.hpp"
#include "kbs/policy.hpp"
#include "kbs/session.hpp"
#include "kbs/store.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace veil::kbs {

struct Metrics {
  std::atomic<uint64_t> auth{0}, attest_ok{0}, attest_fail{0};
  std::atomic<uint64_t> res_ok{0}, res_401{0}, res_403{0}, res_404{0}, res_400{0};
  std::atomic<uint64_t> admin_ok{0}, admin_denied{0};
};

class Server {
 public:
  // Opens the state directory (keys, database, certificate), ready to bind.
  static Result<std::unique_ptr<Server>> create(Config cfg);
  ~Server();
  // Adds the verifier for its TEE kind, replacing the built-in one. For programs that embed the
  // server (the benchmark's TDX verifier with a test root); `veil-kbs serve` has no way to call
  // it. Only before run(); not for tpm (AK enrolment goes to the built-in one).
  Result<> add_verifier(std::unique_ptr<attest::Verifier> v);
  // Binds host:port (port 0: any free port); returns the port.
  Result<int> bind();
  // Serves until stop(). Blocking.
  void run();
  void stop();
  const std::string& tls_fingerprint() const { return fingerprint_; }
  std::string token_public_pem();

 private:
  explicit Server(Config cfg);
  void routes();
  // RCAR (server_rcar.cpp)
  void on_auth(const httplib::Request& req, httplib::Response& res);
  void on_attest(const httplib::Request& req, httplib::Response& res);
  void on_get_resource(const httplib::Request& req, httplib::Response& res);
  // Admin and metrics (server_admin.cpp)
  bool admin_ok(const httplib::Request& req, httplib::Response& res);
  void on_put_resource(const httplib::Request& req, httplib::Response& res);
  void on_policy(const httplib::Request& req, httplib::Response& res);
  void on_reference_values(const httplib::Request& req, httplib::Response& res);
  void on_tpm_aks(const httplib::Request& req, httplib::Response& res);
  void on_audit(const httplib::Request& req, httplib::Response& res);
  void on_metrics(const httplib::Request& req, httplib::Response& res);

  std::shared_ptr<const Policy> policy();

  Config cfg_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<Store> store_;
  attest::VerifierSet verifiers_;
  attest::TpmVerifier* tpm_ = nullptr;  // owned by verifiers_
  Sessions sessions_;
  crypto::Pkey token_key_, admin_key_;
  std::string fingerprint_;
  std::shared_mutex policy_mu_;
  std::shared_ptr<const Policy> policy_;
  Metrics metrics_;
};

// Sends an RFC 7807 problem document.
void problem(httplib::Response& res, int status, const std::string& type,
             const std::string& detail);
// "<repository>/<type>/<tag>", each segment [A-Za-z0-9._-]{1,128} and not "." or "..".
bool valid_resource_path(const std::string& path);

}  // namespace veil::kbs
