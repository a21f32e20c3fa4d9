#include "kbs/agent/config.hpp"

#include <stdlib.h>

#include <set>

#include "base/file.hpp"
#include "oci/json_path.hpp"

namespace veil::agent {
namespace {

using oci::JsonAt;

Result<> only_keys(const JsonAt& at, std::initializer_list<const char*> allowed) {
  std::set<std::string> ok(allowed.begin(), allowed.end());
  for (const auto& [k, v] : at.items())
    if (!ok.contains(k)) return v.fail("unknown key");
  return {};
}

Result<> parse_kbs(const JsonAt& at, KbsSettings& k) {
  VEIL_CHECK(at.object());
  VEIL_CHECK(only_keys(at, {"url", "ca_cert", "timeout"}));
  k.url = VEIL_TRY(at["url"].string());
  if (!k.url.starts_with("http://") && !k.url.starts_with("https://"))
    return at["url"].fail("must start with http:// or https://");
  VEIL_CHECK(at["ca_cert"].get(k.ca_cert));
  VEIL_CHECK(at["timeout"].get(k.timeout));
  if (k.timeout < 1 || k.timeout > 3600) return at["timeout"].fail("must be 1..3600 seconds");
  return {};
}

Result<> parse_attester(const JsonAt& at, AttesterSettings& a) {
  VEIL_CHECK(at.object());
  VEIL_CHECK(only_keys(at, {"backend", "tcti", "event_log", "sample_key", "svn", "snp_vmpl"}));
  a.backend = VEIL_TRY(at["backend"].string());
  VEIL_CHECK(at["tcti"].get(a.tcti));
  VEIL_CHECK(at["event_log"].get(a.event_log));
  VEIL_CHECK(at["sample_key"].get(a.sample_key));
  VEIL_CHECK(at["svn"].get(a.svn));
  if (at["snp_vmpl"].present()) {
    auto vmpl = VEIL_TRY(at["snp_vmpl"].integer<int64_t>());
    if (vmpl < 0 || vmpl > 3) return at["snp_vmpl"].fail("must be 0..3 (an SEV-SNP VMPL)");
    if (a.backend != "snp" && a.backend != "auto")
      return at["snp_vmpl"].fail("applies only to the \"snp\" and \"auto\" backends");
    a.snp_vmpl = static_cast<unsigned>(vmpl);
  }
  if (a.backend == "tpm" || a.backend == "auto") {  // auto may fall back to the TPM
    if (a.tcti.empty()) return at["tcti"].fail("must not be empty");
    if (!a.event_log.starts_with("/")) return at["event_log"].fail("must be an absolute path");
  } else if (a.backend == "sample") {
    if (a.sample_key.empty())
      return at["sample_key"].fail("is required with the sample backend (an Ed25519 PEM key)");
  } else if (a.backend != "snp" && a.backend != "tdx") {
    return at["backend"].fail(
        "must be \"tpm\" or \"sample\", or a TEE: \"snp\", \"tdx\" or \"auto\" (the TEE this "
        "guest has, else the TPM), got " +
        oci::json_quote(a.backend));
  }
  return {};
}

}  // namespace

std::string config_path(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  const char* env = ::getenv(kConfigEnv);
  return env && *env ? env : kDefaultConfig;
}

Result<Config> parse_config(std::string_view text, const std::string& path) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return fail(path + ": not valid JSON");
  Config c;
  c.path = path;
  JsonAt top(doc);
  auto parse = [&]() -> Result<> {
    if (!doc.is_object()) return fail("must be a JSON object");
    VEIL_CHECK(only_keys(top, {"kbs", "attester"}));
    if (top["kbs"].present()) VEIL_CHECK(parse_kbs(top["kbs"], c.kbs));
    if (top["attester"].present()) VEIL_CHECK(parse_attester(top["attester"], c.attester));
    return {};
  };
  if (auto r = parse(); !r) return std::unexpected(r.error().wrap(path));
  return c;
}

Result<Config> load_config(const std::string& explicit_path) {
  std::string p = config_path(explicit_path);
  auto text = read_file(p);
  if (!text)
    return fail("veil config " + p + ": " + text.error().str() +
                " (it names the KBS and the evidence backend; see docs/kbs.md)");
  return parse_config(*text, p);
}

Result<> check_complete(const Config& c) {
  if (c.kbs.url.empty()) return fail(c.path + ": kbs.url is not set (secrets need a KBS)");
  if (c.attester.backend.empty())
    return fail(
        c.path +
        ": attester.backend is not set (\"tpm\", \"snp\", \"tdx\", \"auto\" or \"sample\")");
  return {};
}

}  // namespace veil::agent
