// Per-TEE claim requirements of a policy rule (docs/kbs.md "Policy"):
//   claims:
//     snp: {reported_tcb.snp: {min: 8}, id_key_digest: [HEX, ...], policy.smt: false}
//     tdx: {tcb_status: [UpToDate, SWHardeningNeeded]}
//     sgx: {mr_signer: HEX, isv_prod_id: 1, isv_svn: {min: 2}}
// Each key of a TEE's map names a claim in Claims::details (docs/attestation.md). A scalar must
// be equal (strings case-insensitively, so hex may be written in either case), a list names the
// allowed values, {min: N, max: N} bounds a number. A claim the evidence lacks fails the rule.
// Requirements apply only to evidence of that TEE kind.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "attest/attest.hpp"
#include "base/error.hpp"

namespace veil::kbs {

struct ClaimRequirement {
  std::string claim;
  enum class Kind { equal, one_of, range } kind = Kind::equal;
  std::vector<attest::json> values;  // equal: one; one_of: the list
  std::optional<double> min, max;
};

// TEE kind -> requirements.
using ClaimRules = std::map<std::string, std::vector<ClaimRequirement>>;

// Parses the rule's "claims" object; errors name `where` and the TEE and claim.
Result<ClaimRules> parse_claim_rules(const attest::json& j, const std::string& where);
// Empty when the claims meet every requirement for their TEE; else why not.
std::string check_claim_rules(const ClaimRules& rules, const attest::Claims& c);

}  // namespace veil::kbs
