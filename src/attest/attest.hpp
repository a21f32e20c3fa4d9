// One abstraction over many TEEs. An Attester produces evidence inside the workload's trust
// boundary; a Verifier (in the KBS) checks it and extracts Claims. Each TEE kind (sample, tpm, and
// later intel-sgx, intel-tdx, amd-sev-snp) is one backend implementing both; the KBS protocol code
// only sees these interfaces and the TEE name from the RCAR request.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::attest {

using json = nlohmann::json;

// What a verifier vouches for after checking evidence.
struct Claims {
  std::string tee;                // backend name, e.g. "sample", "tpm"
  std::string measurement;        // hex SHA-256 of the sandbox (see docs/attestation.md)
  bool debug = false;             // TEE in debug mode (secrets must not be released by default)
  int64_t svn = 0;                // security version number of the TEE/firmware
  bool insecure = false;          // true for software-only backends (sample)
  json details = json::object();  // per-TEE claims (docs/attestation.md), flat names
  std::string report_data;        // raw report data the evidence carries (not in to_json)
  json to_json() const;
  // Back from to_json() (e.g. a token's "tcb" claim); missing or mistyped fields take the
  // safe side: debug and insecure true, svn 0.
  static Claims from_json(const json& j);
};

class Attester {
 public:
  virtual ~Attester() = default;
  virtual std::string tee() const = 0;
  // Evidence binding `report_data` (32 bytes, see report_data()).
  virtual Result<json> evidence(std::string_view report_data) = 0;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual std::string tee() const = 0;
  // Checks everything about the evidence except what its report data binds: signatures, chains
  // to pinned roots, TCB. Claims::report_data is the raw field. (`veil-kbs verify` without
  // --report-data uses this; the KBS never does.)
  virtual Result<Claims> verify_evidence(const json& evidence) = 0;
  // verify_evidence() and the binding: the report data must be `expected_report_data` (32
  // bytes), and where the TEE's field is longer (64 bytes: SNP, TDX, SGX), zeros after it.
  Result<Claims> verify(const json& evidence, std::string_view expected_report_data);
};

// Whether a TEE's raw report-data field binds `expected` (see Verifier::verify).
Result<> check_binding(std::string_view field, std::string_view expected);

// Verifiers by TEE name.
class VerifierSet {
 public:
  void add(std::unique_ptr<Verifier> v);
  bool has(const std::string& tee) const { return verifiers_.contains(tee); }
  Result<Claims> verify(const std::string& tee, const json& evidence,
                        std::string_view expected_report_data) const;

 private:
  std::map<std::string, std::unique_ptr<Verifier>> verifiers_;
};

// Canonical JSON: object keys sorted, no insignificant whitespace, UTF-8 as is.
std::string canonical(const json& j);
// The 32 bytes every evidence must bind: SHA-256(nonce || canonical(tee-pubkey JWK)).
std::string report_data(std::string_view nonce, const json& tee_pubkey);

}  // namespace veil::attest
