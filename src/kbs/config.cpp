#include "kbs/config.hpp"

#include "base/file.hpp"
#include "kbs/policy.hpp"

namespace veil::kbs {

Result<Config> Config::load(const std::string& path) {
  auto text = VEIL_TRY(read_file(path));
  auto parsed = parse_json_or_yaml(text);
  if (!parsed) return std::unexpected(parsed.error().wrap(path));
  const auto& j = *parsed;
  if (!j.is_object()) return fail(path + ": expected a mapping");
  Config c;
  try {
    for (const auto& [k, v] : j.items()) {
      if (k == "listen") {
        std::string s = v;
        auto colon = s.rfind(':');
        if (colon == std::string::npos) return fail(path + ": listen must be HOST:PORT");
        c.host = s.substr(0, colon);
        c.port = std::stoi(s.substr(colon + 1));
      } else if (k == "state_dir") {
        c.state_dir = v;
      } else if (k == "tls") {
        c.tls = v.value("enabled", true);
        c.tls_cert = v.value("cert", "");
        c.tls_key = v.value("key", "");
      } else if (k == "kek_file") {
        c.kek_file = v;
      } else if (k == "admin_public_key") {
        c.admin_public_key = v;
      } else if (k == "sample_trusted_keys") {
        c.sample_trusted_keys = v.get<std::vector<std::string>>();
      } else if (k == "tpm_trusted_aks") {
        c.tpm_trusted_aks = v.get<std::vector<std::string>>();
      } else if (k == "token_ttl") {
        c.token_ttl = v;
      } else if (k == "session_ttl") {
        c.session_ttl = v;
      } else if (k == "max_body") {
        c.max_body = v;
      } else if (k == "threads") {
        c.threads = v;
      } else if (k == "issuer") {
        c.issuer = v;
      } else {
        return fail(path + ": unknown setting '" + k + "'");
      }
    }
  } catch (const std::exception& e) {
    return fail(path + ": " + e.what());
  }
  if (c.admin_public_key.empty()) return fail(path + ": admin_public_key is required");
  if (c.kek_file.empty()) c.kek_file = c.state_dir + "/kek";
  if (c.tls_cert.empty()) c.tls_cert = c.state_dir + "/tls.crt";
  if (c.tls_key.empty()) c.tls_key = c.state_dir + "/tls.key";
  if (c.threads < 1 || c.threads > 1024) return fail(path + ": threads must be 1..1024");
  return c;
}

}  // namespace veil::kbs
