// veil-kbs server configuration, read from a JSON or YAML file (see docs/kbs.md).
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::kbs {

struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: pick a free port (tests)
  std::string state_dir = "/var/lib/veil-kbs";
  bool tls = true;
  std::string tls_cert, tls_key;  // empty: <state_dir>/tls.crt|key, self-signed on first start
  std::string kek_file;           // empty: <state_dir>/kek (32 random bytes on first start)
  std::string admin_public_key;   // PEM (Ed25519) that verifies admin tokens; required
  std::vector<std::string> sample_trusted_keys;  // base64url raw Ed25519 keys; empty: no sample
  std::vector<std::string> tpm_trusted_aks;      // PEM files of enrolled TPM AKs; empty: no tpm
  int64_t token_ttl = 300;                       // seconds an attestation token is valid
  int64_t session_ttl = 300;                     // seconds a challenge/session is valid
  size_t max_body = 64 * 1024;                   // bytes; larger requests get 413
  int threads = 64;                              // HTTP worker threads
  std::string issuer = "veil-kbs";

  static Result<Config> load(const std::string& path);
};

}  // namespace veil::kbs
