#include "kbs/claim_rules.hpp"

#include <algorithm>
#include <cctype>

namespace veil::kbs {

using attest::json;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool same(const json& want, const json& got) {
  if (want.is_string() && got.is_string())
    return lower(want.get<std::string>()) == lower(got.get<std::string>());
  if (want.is_number() && got.is_number()) return want.get<double>() == got.get<double>();
  return want == got;
}

bool scalar(const json& v) {
  return v.is_string() || v.is_number() || v.is_boolean();
}

}  // namespace

Result<ClaimRules> parse_claim_rules(const json& j, const std::string& where) {
  if (!j.is_object()) return fail(where + ": an object of TEE kinds");
  ClaimRules out;
  for (const auto& [tee, reqs] : j.items()) {
    std::string at = where + "." + tee;
    if (!reqs.is_object()) return fail(at + ": an object of claim names");
    for (const auto& [name, cond] : reqs.items()) {
      std::string here = at + "." + name;
      ClaimRequirement r;
      r.claim = name;
      if (scalar(cond)) {
        r.values.push_back(cond);
      } else if (cond.is_array()) {
        if (cond.empty()) return fail(here + ": an empty list allows nothing");
        r.kind = ClaimRequirement::Kind::one_of;
        for (const auto& v : cond) {
          if (!scalar(v)) return fail(here + ": list entries must be strings, numbers or booleans");
          r.values.push_back(v);
        }
      } else if (cond.is_object()) {
        r.kind = ClaimRequirement::Kind::range;
        for (const auto& [k, v] : cond.items()) {
          if (k != "min" && k != "max") return fail(here + ": unknown bound '" + k + "'");
          if (!v.is_number()) return fail(here + "." + k + ": a number");
          (k == "min" ? r.min : r.max) = v.get<double>();
        }
        if (!r.min && !r.max) return fail(here + ": {min: N} and/or {max: N}");
      } else {
        return fail(here + ": a value, a list of values or {min, max}");
      }
      out[tee].push_back(std::move(r));
    }
  }
  return out;
}

std::string check_claim_rules(const ClaimRules& rules, const attest::Claims& c) {
  auto it = rules.find(c.tee);
  if (it == rules.end()) return "";
  for (const auto& r : it->second) {
    auto got = c.details.is_object() ? c.details.find(r.claim) : c.details.end();
    if (got == c.details.end()) return "claim " + r.claim + " missing from " + c.tee + " evidence";
    switch (r.kind) {
      case ClaimRequirement::Kind::equal:
        if (!same(r.values[0], *got))
          return "claim " + r.claim + " is " + got->dump() + ", not " + r.values[0].dump();
        break;
      case ClaimRequirement::Kind::one_of:
        if (std::none_of(r.values.begin(), r.values.end(),
                         [&](const json& v) { return same(v, *got); }))
          return "claim " + r.claim + " " + got->dump() + " is not an allowed value";
        break;
      case ClaimRequirement::Kind::range: {
        if (!got->is_number()) return "claim " + r.claim + " is not a number";
        double v = got->get<double>();
        if (r.min && v < *r.min)
          return "claim " + r.claim + " " + got->dump() + " below minimum " + json(*r.min).dump();
        if (r.max && v > *r.max)
          return "claim " + r.claim + " " + got->dump() + " above maximum " + json(*r.max).dump();
        break;
      }
    }
  }
  return "";
}

}  // namespace veil::kbs
