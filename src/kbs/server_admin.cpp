// Admin API (Ed25519-signed bearer token) and Prometheus /metrics.
#include <httplib.h>

#include <mutex>

#include "attest/json_get.hpp"
#include "kbs/jose.hpp"
#include "kbs/server.hpp"

namespace veil::kbs {

using attest::json;

namespace {
bool is_digest(const json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}
}  // namespace

bool Server::admin_ok(const httplib::Request& req, httplib::Response& res) {
  std::string auth = req.get_header_value("Authorization");
  if (!auth.starts_with("Bearer ")) {
    metrics_.admin_denied++;
    problem(res, 401, "AdminAuth", "admin token required (Authorization: Bearer ...)");
    return false;
  }
  auto claims = jose::jwt_verify(admin_key_.get(), auth.substr(7), jose::now_seconds());
  if (!claims) {
    metrics_.admin_denied++;
    problem(res, 401, "AdminAuth", "admin token rejected: " + claims.error().str());
    return false;
  }
  metrics_.admin_ok++;
  return true;
}

void Server::on_put_resource(const httplib::Request& req, httplib::Response& res) {
  if (!admin_ok(req, res)) return;
  std::string path = req.matches[1];
  if (!valid_resource_path(path))
    return problem(res, 400, "InvalidResourcePath", "resource path must be repository/type/tag");
  auto r = store_->put_resource(path, req.body);
  if (!r) return problem(res, 500, "StorageError", r.error().str());
  res.set_content(json{{"stored", path}}.dump(), "application/json");
}

void Server::on_policy(const httplib::Request& req, httplib::Response& res) {
  if (!admin_ok(req, res)) return;
  if (req.method == "GET") {
    auto text = store_->setting("policy");
    if (!text) return problem(res, 500, "StorageError", text.error().str());
    res.set_content(text->value_or(R"({"rules":[]})"), "text/plain");
    return;
  }
  auto parsed = Policy::parse(req.body);
  if (!parsed) return problem(res, 400, "InvalidPolicy", parsed.error().str());
  auto stored = store_->set_setting("policy", req.body);
  if (!stored) return problem(res, 500, "StorageError", stored.error().str());
  {
    std::unique_lock lock(policy_mu_);
    policy_ = std::make_shared<const Policy>(std::move(*parsed));
  }
  res.set_content(json{{"rules", policy()->size()}}.dump(), "application/json");
}

void Server::on_reference_values(const httplib::Request& req, httplib::Response& res) {
  if (!admin_ok(req, res)) return;
  if (req.method == "POST") {
    json j = json::parse(req.body, nullptr, false);
    if (!j.is_object()) return problem(res, 400, "InvalidRequest", "expected {add, remove}");
    for (const char* k : {"add", "remove"}) {
      if (!j.contains(k)) continue;
      if (!j[k].is_array()) return problem(res, 400, "InvalidRequest", std::string(k) + ": list");
      for (const auto& v : j[k])
        if (!is_digest(v))
          return problem(res, 400, "InvalidRequest",
                         "reference values are 64 lowercase hex digits");
    }
    for (const auto& v : j.value("add", json::array())) {
      auto r = store_->add_reference_value(v, attest::string_or(j, "note"));
      if (!r) return problem(res, 500, "StorageError", r.error().str());
    }
    for (const auto& v : j.value("remove", json::array())) {
      auto r = store_->remove_reference_value(v);
      if (!r) return problem(res, 500, "StorageError", r.error().str());
    }
  }
  auto all = store_->reference_values();
  if (!all) return problem(res, 500, "StorageError", all.error().str());
  res.set_content(json{{"reference_values", *all}}.dump(), "application/json");
}

void Server::on_tpm_aks(const httplib::Request& req, httplib::Response& res) {
  if (!admin_ok(req, res)) return;
  if (req.method == "POST") {
    auto key = crypto::public_from_pem(req.body);
    if (!key) return problem(res, 400, "InvalidKey", key.error().str());
    auto canonical_pem = crypto::public_pem(key->get());
    if (!canonical_pem) return problem(res, 400, "InvalidKey", canonical_pem.error().str());
    if (auto r = tpm_->enroll(std::move(*key)); !r)
      return problem(res, 400, "InvalidKey", r.error().str());
    if (auto r = store_->add_tpm_ak(*canonical_pem); !r)
      return problem(res, 500, "StorageError", r.error().str());
  }
  auto all = store_->tpm_aks();
  if (!all) return problem(res, 500, "StorageError", all.error().str());
  res.set_content(json{{"tpm_aks", *all}}.dump(), "application/json");
}

void Server::on_audit(const httplib::Request& req, httplib::Response& res) {
  if (!admin_ok(req, res)) return;
  int limit = 100;
  if (req.has_param("limit"))
    limit = std::clamp(atoi(req.get_param_value("limit").c_str()), 1, 10000);
  auto entries = store_->recent_audit(limit);
  if (!entries) return problem(res, 500, "StorageError", entries.error().str());
  json out = json::array();
  for (const auto& e : *entries) {
    json claims = e.claims.empty() ? json(nullptr) : json::parse(e.claims, nullptr, false);
    out.push_back({{"time", e.time},
                   {"session", e.session},
                   {"resource", e.resource},
                   {"tee", e.tee},
                   {"measurement", e.measurement},
                   {"decision", e.decision},
                   {"reason", e.reason},
                   {"claims", claims.is_discarded() ? json(nullptr) : claims}});
  }
  res.set_content(out.dump(), "application/json");
}

void Server::on_metrics(const httplib::Request&, httplib::Response& res) {
  std::string m;
  auto line = [&](const char* name, const char* labels, uint64_t v) {
    m += std::string(name) + labels + " " + std::to_string(v) + "\n";
  };
  m += "# HELP kbs_auth_requests_total RCAR /auth requests.\n# TYPE kbs_auth_requests_total "
       "counter\n";
  line("kbs_auth_requests_total", "", metrics_.auth);
  m += "# HELP kbs_attestations_total RCAR /attest outcomes.\n# TYPE kbs_attestations_total "
       "counter\n";
  line("kbs_attestations_total", "{result=\"ok\"}", metrics_.attest_ok);
  line("kbs_attestations_total", "{result=\"fail\"}", metrics_.attest_fail);
  m += "# HELP kbs_resource_requests_total Resource GETs by status.\n"
       "# TYPE kbs_resource_requests_total counter\n";
  line("kbs_resource_requests_total", "{status=\"200\"}", metrics_.res_ok);
  line("kbs_resource_requests_total", "{status=\"400\"}", metrics_.res_400);
  line("kbs_resource_requests_total", "{status=\"401\"}", metrics_.res_401);
  line("kbs_resource_requests_total", "{status=\"403\"}", metrics_.res_403);
  line("kbs_resource_requests_total", "{status=\"404\"}", metrics_.res_404);
  m +=
      "# HELP kbs_admin_requests_total Admin API calls.\n# TYPE kbs_admin_requests_total counter\n";
  line("kbs_admin_requests_total", "{result=\"ok\"}", metrics_.admin_ok);
  line("kbs_admin_requests_total", "{result=\"denied\"}", metrics_.admin_denied);
  m += "# HELP kbs_sessions Live RCAR sessions.\n# TYPE kbs_sessions gauge\n";
  line("kbs_sessions", "", sessions_.size());
  res.set_content(m, "text/plain; version=0.0.4");
}

}  // namespace veil::kbs
