#include "kbs/policy.hpp"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "attest/crypto.hpp"

namespace veil::kbs {

using attest::json;

namespace {

json yaml_to_json(const YAML::Node& n, int depth) {
  if (depth > 64) throw std::runtime_error("nested too deeply");
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second, depth + 1);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& v : n) a.push_back(yaml_to_json(v, depth + 1));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true") return true;
      if (s == "false") return false;
      char* end = nullptr;
      long long v = strtoll(s.c_str(), &end, 10);
      if (!s.empty() && *end == '\0') return v;
      return s;
    }
    default:
      return nullptr;
  }
}

std::string lower_hex(const json& v) {
  std::string s = v.get<std::string>();
  for (char& ch : s) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

Result<json> parse_json_or_yaml(std::string_view text) {
  if (text.size() > 1 << 20) return fail("document larger than 1 MiB");
  json j = json::parse(text, nullptr, false);
  if (!j.is_discarded()) return j;
  try {
    return yaml_to_json(YAML::Load(std::string(text)), 0);
  } catch (const std::exception& e) {
    return fail(std::string("neither JSON nor YAML: ") + e.what());
  }
}

Result<Policy> Policy::parse(std::string_view text) {
  json j = VEIL_TRY(parse_json_or_yaml(text));
  if (!j.is_object() || !j.contains("rules") || !j["rules"].is_array())
    return fail("policy: expected an object with a 'rules' list");
  Policy p;
  size_t i = 0;
  for (const auto& r : j["rules"]) {
    std::string where = "policy: rules[" + std::to_string(i++) + "]";
    if (!r.is_object()) return fail(where + ": not an object");
    for (const auto& [k, v] : r.items())
      if (k != "resource" && k != "tees" && k != "measurements" && k != "allow_debug" &&
          k != "min_svn" && k != "claims")
        return fail(where + ": unknown field '" + k + "'");
    Rule rule;
    if (!r.contains("resource") || !r["resource"].is_string())
      return fail(where + ".resource: required string");
    rule.resource = r["resource"];
    if (!r.contains("tees") || !r["tees"].is_array() || r["tees"].empty())
      return fail(where + ".tees: required non-empty list");
    for (const auto& t : r["tees"]) {
      if (!t.is_string()) return fail(where + ".tees: entries must be strings");
      rule.tees.push_back(t);
    }
    if (r.contains("measurements")) {
      const auto& m = r["measurements"];
      if (m == "reference-values") {
        rule.mode = Rule::Measurements::reference_values;
      } else if (m == "any") {
        rule.mode = Rule::Measurements::any;
      } else if (m.is_array()) {
        rule.mode = Rule::Measurements::listed;
        for (const auto& v : m) {
          // 32 bytes (sample, tpm, SGX MRENCLAVE) or 48 (SNP measurement, TDX MRTD).
          if (!v.is_string() ||
              (v.get<std::string>().size() != 64 && v.get<std::string>().size() != 96) ||
              !crypto::unhex(v.get<std::string>()))
            return fail(where + ".measurements: entries must be 64 or 96 hex digits");
          rule.measurements.push_back(lower_hex(v));
        }
      } else {
        return fail(where + ".measurements: 'reference-values', 'any' or a list of digests");
      }
    }
    if (r.contains("allow_debug")) {
      if (!r["allow_debug"].is_boolean()) return fail(where + ".allow_debug: boolean");
      rule.allow_debug = r["allow_debug"];
    }
    if (r.contains("min_svn")) {
      if (!r["min_svn"].is_number_integer()) return fail(where + ".min_svn: integer");
      rule.min_svn = r["min_svn"];
    }
    if (r.contains("claims"))
      rule.claims = VEIL_TRY(parse_claim_rules(r["claims"], where + ".claims"));
    p.rules_.push_back(std::move(rule));
  }
  return p;
}

const Rule* Policy::match(const std::string& resource) const {
  for (const auto& r : rules_)
    if (fnmatch(r.resource.c_str(), resource.c_str(), FNM_PATHNAME) == 0) return &r;
  return nullptr;
}

Decision Policy::check(const Rule& r, const attest::Claims& c, bool is_reference) const {
  std::string rule = "rule '" + r.resource + "': ";
  if (std::find(r.tees.begin(), r.tees.end(), c.tee) == r.tees.end())
    return {false, rule + "TEE '" + c.tee + "' not allowed"};
  if (c.debug && !r.allow_debug) return {false, rule + "TEE is in debug mode"};
  if (c.svn < r.min_svn)
    return {false,
            rule + "svn " + std::to_string(c.svn) + " below minimum " + std::to_string(r.min_svn)};
  if (auto why = check_claim_rules(r.claims, c); !why.empty()) return {false, rule + why};
  switch (r.mode) {
    case Rule::Measurements::reference_values:
      if (!is_reference)
        return {false, rule + "measurement " + c.measurement + " not in reference values"};
      break;
    case Rule::Measurements::listed:
      if (std::find(r.measurements.begin(), r.measurements.end(), c.measurement) ==
          r.measurements.end())
        return {false, rule + "measurement " + c.measurement + " not listed"};
      break;
    case Rule::Measurements::any:
      break;
  }
  return {true, rule + "allowed" + (c.insecure ? " (INSECURE sample evidence)" : "")};
}

}  // namespace veil::kbs
