// Resource policy: an ordered list of rules, the first rule whose glob matches the resource path
// decides. No matching rule means deny. Written as JSON or YAML:
//   rules:
//     - resource: "prod/keys/*"        # fnmatch glob over "<repository>/<type>/<tag>"
//       tees: [tpm]                    # allowed TEE kinds; "sample" must be named to be allowed
//       measurements: reference-values # or a list of hex digests, or "any"
//       allow_debug: false             # default false
//       min_svn: 2                     # default 0
//       claims: {snp: {reported_tcb.snp: {min: 8}}}   # per-TEE claim requirements
//       (claim_rules.hpp)
#pragma once

#include <string>
#include <vector>

#include "attest/attest.hpp"
#include "base/error.hpp"
#include "kbs/claim_rules.hpp"

namespace veil::kbs {

struct Rule {
  std::string resource;
  std::vector<std::string> tees;
  enum class Measurements { reference_values, listed, any } mode = Measurements::reference_values;
  std::vector<std::string> measurements;
  bool allow_debug = false;
  int64_t min_svn = 0;
  ClaimRules claims;
};

struct Decision {
  bool allow = false;
  std::string reason;
};

class Policy {
 public:
  // Parses JSON or YAML text; errors name the rule index and field.
  static Result<Policy> parse(std::string_view text);
  // `is_reference` answers whether a measurement is among the stored reference values.
  template <class F>
  Decision evaluate(const std::string& resource, const attest::Claims& c, F&& is_reference) const;
  size_t size() const { return rules_.size(); }

 private:
  const Rule* match(const std::string& resource) const;
  Decision check(const Rule& r, const attest::Claims& c, bool is_reference) const;
  std::vector<Rule> rules_;
};

template <class F>
Decision Policy::evaluate(const std::string& resource, const attest::Claims& c,
                          F&& is_reference) const {
  const Rule* r = match(resource);
  if (!r) return {false, "no policy rule matches " + resource};
  bool ref = r->mode == Rule::Measurements::reference_values && is_reference(c.measurement);
  return check(*r, c, ref);
}

// YAML or JSON text to JSON (YAML scalars become strings, numbers or booleans).
Result<attest::json> parse_json_or_yaml(std::string_view text);

}  // namespace veil::kbs
