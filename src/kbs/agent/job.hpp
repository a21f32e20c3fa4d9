// The attestation agent's one job: measure the sandbox, produce evidence (tpm: extend PCR 23 and
// quote; sample: INSECURE software signature), run the RCAR handshake with the KBS, and fetch
// and decrypt each resource with a P-256 key that exists only for this sandbox, in this process.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "kbs/agent/config.hpp"
#include "kbs/agent/secrets_list.hpp"

namespace veil::agent {

struct Job {
  Config cfg;
  std::string bundle;     // root.path is relative to it
  nlohmann::json config;  // the bundle's config.json, parsed: what is measured
  std::vector<SecretRef> secrets;
};

struct Outcome {
  std::string measurement;  // hex, as attested
  std::string tee;
};

// Receives each plaintext in request order; the agent wipes it after the call.
using Sink = std::function<Result<>(const SecretRef&, std::string& plaintext)>;

// Errors carry the KBS's reason: "KBS <url>: resource a/b/c: HTTP 403: <policy reason>".
Result<Outcome> run_job(const Job& job, const Sink& sink);

}  // namespace veil::agent
