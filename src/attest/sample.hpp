// The `sample` backend: SOFTWARE ONLY, INSECURE, for development and tests. Evidence is a JSON
// statement {measurement, svn, debug, report_data} signed with an Ed25519 key held in ordinary
// memory: anyone with the key can forge it. The KBS default policy refuses it; a policy must name
// "sample" explicitly to accept it.
#pragma once

#include <vector>

#include "attest/attest.hpp"
#include "attest/crypto.hpp"

namespace veil::attest {

inline constexpr const char* kSampleTee = "sample";

class SampleAttester : public Attester {
 public:
  SampleAttester(crypto::Pkey key, std::string measurement_hex, int64_t svn = 1, bool debug = false)
      : key_(std::move(key)), measurement_(std::move(measurement_hex)), svn_(svn), debug_(debug) {}
  std::string tee() const override { return kSampleTee; }
  Result<json> evidence(std::string_view report_data) override;

 private:
  crypto::Pkey key_;
  std::string measurement_;
  int64_t svn_;
  bool debug_;
};

class SampleVerifier : public Verifier {
 public:
  // Evidence must be signed by one of these raw Ed25519 public keys (parsed once, here: keys
  // that are not 32-byte Ed25519 keys can never match).
  explicit SampleVerifier(std::vector<std::string> trusted_raw_keys);
  std::string tee() const override { return kSampleTee; }
  Result<Claims> verify_evidence(const json& evidence) override;

 private:
  std::vector<std::pair<std::string, crypto::Pkey>> trusted_;  // raw key, parsed key
};

}  // namespace veil::attest
