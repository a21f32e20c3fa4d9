#include "kbs/server.hpp"

#include <httplib.h>

#include "attest/dcap/verifier.hpp"
#include "attest/sample.hpp"
#include "attest/snp/verifier.hpp"
#include "attest/tpm.hpp"
#include "base/file.hpp"
#include "base/log.hpp"
#include "kbs/tls.hpp"

namespace veil::kbs {

void problem(httplib::Response& res, int status, const std::string& type,
             const std::string& detail) {
  res.status = status;
  attest::json j = {{"type", "https://github.com/confidential-containers/kbs/errors/" + type},
                    {"detail", detail}};
  res.set_content(j.dump(), "application/json");
}

bool valid_resource_path(const std::string& path) {
  if (path.size() > 400) return false;
  int segments = 0;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string seg = path.substr(start, end - start);
    if (seg.empty() || seg.size() > 128 || seg == "." || seg == "..") return false;
    for (char c : seg)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
    segments++;
    start = end + 1;
  }
  return segments == 3;
}

static Result<crypto::Pkey> load_or_create_token_key(const std::string& path) {
  if (!path_exists(path)) {
    auto k = VEIL_TRY(crypto::ed25519_generate());
    VEIL_CHECK(crypto::save_private_pem(k.get(), path));
  }
  return crypto::load_private_pem(path);
}

Result<std::unique_ptr<Server>> Server::create(Config cfg) {
  std::unique_ptr<Server> s(new Server(std::move(cfg)));
  const Config& c = s->cfg_;
  VEIL_CHECK(mkdir_all(c.state_dir, 0700));
  s->store_ = VEIL_TRY(Store::open(c.state_dir + "/kbs.db", c.kek_file));
  s->token_key_ = VEIL_TRY(load_or_create_token_key(c.state_dir + "/token-key.pem"));
  s->admin_key_ = VEIL_TRY(crypto::load_public_pem(c.admin_public_key));
  if (EVP_PKEY_get_id(s->admin_key_.get()) != EVP_PKEY_ED25519)
    return fail(c.admin_public_key + ": admin key must be Ed25519");
  if (!c.sample_trusted_keys.empty()) {
    std::vector<std::string> raw;
    for (const auto& k : c.sample_trusted_keys) {
      auto r = crypto::unb64url(k);
      if (!r || r->size() != 32) return fail("sample_trusted_keys: invalid key '" + k + "'");
      raw.push_back(*r);
    }
    s->verifiers_.add(std::make_unique<attest::SampleVerifier>(std::move(raw)));
    log::warn("veil-kbs: the INSECURE 'sample' verifier is enabled (software-only evidence)");
  }
  // TPM: AKs from the config file plus those enrolled through the admin API.
  auto tpm = std::make_unique<attest::TpmVerifier>(std::vector<crypto::Pkey>{});
  for (const auto& path : c.tpm_trusted_aks) {
    auto ak = VEIL_TRY(crypto::load_public_pem(path));
    VEIL_CHECK(tpm->enroll(std::move(ak)));
  }
  auto enrolled = VEIL_TRY(s->store_->tpm_aks());
  for (const auto& pem : enrolled) {
    auto ak = VEIL_TRY(crypto::public_from_pem(pem));
    VEIL_CHECK(tpm->enroll(std::move(ak)));
  }
  s->tpm_ = tpm.get();
  s->verifiers_.add(std::move(tpm));
  // SEV-SNP: AMD's roots are pinned in the binary; VCEK/VLEK come with the evidence (the
  // in-guest attester sends the one from the host's certificate table) or from
  // <state_dir>/collateral/snp when that directory exists (docs/attestation.md).
  std::string snp_dir = c.state_dir + "/collateral/snp";
  s->verifiers_.add(std::make_unique<attest::snp::SnpVerifier>(
      attest::snp::Options{.collateral_dir = path_exists(snp_dir) ? snp_dir : ""}));
  // TDX and SGX: Intel's SGX Root CA is pinned in the binary; the PCK chain comes in the quote;
  // TCB info and QE identity (for tcb_status) from <state_dir>/collateral/{tdx,sgx} when present.
  std::string tdx_dir = c.state_dir + "/collateral/tdx", sgx_dir = c.state_dir + "/collateral/sgx";
  s->verifiers_.add(std::make_unique<attest::dcap::TdxVerifier>(
      attest::dcap::Options{.collateral_dir = path_exists(tdx_dir) ? tdx_dir : ""}));
  s->verifiers_.add(std::make_unique<attest::dcap::SgxVerifier>(
      attest::dcap::Options{.collateral_dir = path_exists(sgx_dir) ? sgx_dir : ""}));
  auto stored = VEIL_TRY(s->store_->setting("policy"));
  auto policy = Policy::parse(stored ? *stored : R"({"rules":[]})");
  if (!policy) return std::unexpected(policy.error().wrap("stored policy"));
  s->policy_ = std::make_shared<const Policy>(std::move(*policy));
  if (c.tls) {
    s->fingerprint_ = VEIL_TRY(ensure_certificate(c.tls_cert, c.tls_key));
    s->http_ = std::make_unique<httplib::SSLServer>(c.tls_cert.c_str(), c.tls_key.c_str());
    if (!s->http_->is_valid()) return fail("TLS setup failed for " + c.tls_cert);
  } else {
    s->http_ = std::make_unique<httplib::Server>();
  }
  int threads = c.threads;
  s->http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s->http_->set_payload_max_length(c.max_body);
  s->http_->set_read_timeout(10, 0);
  s->http_->set_keep_alive_max_count(1000);
  s->http_->set_tcp_nodelay(true);
  s->routes();
  return s;
}

Server::Server(Config cfg) : cfg_(std::move(cfg)) {}

Server::~Server() {
  stop();
}

Result<> Server::add_verifier(std::unique_ptr<attest::Verifier> v) {
  if (v->tee() == "tpm") return fail("add_verifier: the tpm verifier cannot be replaced");
  verifiers_.add(std::move(v));
  return {};
}

Result<int> Server::bind() {
  int port = cfg_.port == 0 ? http_->bind_to_any_port(cfg_.host)
                            : (http_->bind_to_port(cfg_.host, cfg_.port) ? cfg_.port : -1);
  if (port < 0) return fail("cannot listen on " + cfg_.host + ":" + std::to_string(cfg_.port));
  return port;
}

void Server::run() {
  http_->listen_after_bind();
}

void Server::stop() {
  if (http_) http_->stop();
}

std::string Server::token_public_pem() {
  auto pem = crypto::public_pem(token_key_.get());
  return pem ? *pem : "";
}

std::shared_ptr<const Policy> Server::policy() {
  std::shared_lock lock(policy_mu_);
  return policy_;
}

void Server::routes() {
  using httplib::Request, httplib::Response;
  auto& h = *http_;
  h.Post("/kbs/v0/auth", [this](const Request& q, Response& r) { on_auth(q, r); });
  h.Post("/kbs/v0/attest", [this](const Request& q, Response& r) { on_attest(q, r); });
  h.Get(R"(/kbs/v0/resource/(.+))",
        [this](const Request& q, Response& r) { on_get_resource(q, r); });
  h.Post(R"(/kbs/v0/resource/(.+))",
         [this](const Request& q, Response& r) { on_put_resource(q, r); });
  h.Get("/kbs/v0/resource-policy", [this](const Request& q, Response& r) { on_policy(q, r); });
  h.Post("/kbs/v0/resource-policy", [this](const Request& q, Response& r) { on_policy(q, r); });
  h.Get("/kbs/v0/reference-values",
        [this](const Request& q, Response& r) { on_reference_values(q, r); });
  h.Post("/kbs/v0/reference-values",
         [this](const Request& q, Response& r) { on_reference_values(q, r); });
  h.Get("/kbs/v0/tpm-aks", [this](const Request& q, Response& r) { on_tpm_aks(q, r); });
  h.Post("/kbs/v0/tpm-aks", [this](const Request& q, Response& r) { on_tpm_aks(q, r); });
  h.Get("/kbs/v0/audit", [this](const Request& q, Response& r) { on_audit(q, r); });
  h.Get("/metrics", [this](const Request& q, Response& r) { on_metrics(q, r); });
  h.set_exception_handler([](const Request&, Response& r, std::exception_ptr) {
    problem(r, 500, "InternalError", "internal error");
  });
}

}  // namespace veil::kbs
