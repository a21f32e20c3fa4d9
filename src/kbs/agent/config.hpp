// veil's attestation settings (not a container's): where the key broker is and how this host
// produces evidence. Read by veil-attest only, so `veil` itself never parses it and a container
// without org.veil.secrets never causes it to be opened.
//
// File: --config FILE, else $VEIL_CONFIG, else /etc/veil/config.json. JSON; unknown keys are
// errors:
//   {
//     "kbs": {"url": "https://kbs.example:8443", "ca_cert": "/etc/veil/kbs-ca.pem",
//             "timeout": 30},
//     "attester": {"backend": "tpm", "tcti": "device:/dev/tpmrm0",
//                  "event_log": "/run/veil/tpm-pcr23.log"}
//   }
// In a confidential VM "backend" is "snp" or "tdx" (hardware evidence through configfs-tsm or the
// guest device), or "auto" (the TEE this guest has, else the TPM in "tcti"); "snp_vmpl": 0..3 asks
// an SNP guest's firmware for a report at that VMPL (default: the kernel's floor, usually 0).
// For development only, "attester": {"backend": "sample", "sample_key": "/etc/veil/dev.key",
// "svn": 1}. See docs/kbs.md ("Secrets in containers") and docs/attestation.md.
#pragma once

#include <optional>
#include <string>

#include "base/error.hpp"

namespace veil::agent {

inline constexpr const char* kDefaultConfig = "/etc/veil/config.json";
inline constexpr const char* kConfigEnv = "VEIL_CONFIG";

struct KbsSettings {
  std::string url;      // http(s)://host:port of veil-kbs (or another RCAR KBS)
  std::string ca_cert;  // PEM file that verifies an https KBS; empty: the system's CAs
  int timeout = 30;     // seconds for the whole attestation of one sandbox
};

struct AttesterSettings {
  std::string backend;  // "tpm", "snp", "tdx", "auto" or "sample" (INSECURE, development only)
  std::string tcti = "device:/dev/tpmrm0";
  std::string event_log = "/run/veil/tpm-pcr23.log";
  std::string sample_key;            // Ed25519 PEM private key of the sample attester
  int64_t svn = 1;                   // sample only
  std::optional<unsigned> snp_vmpl;  // snp/auto: the VMPL to request (0..3)
};

struct Config {
  std::string path;  // the file it came from
  KbsSettings kbs;
  AttesterSettings attester;
};

// `explicit_path` if not empty, else $VEIL_CONFIG if set and not empty, else the default.
std::string config_path(const std::string& explicit_path = "");
// Parses and validates; errors say "<file>: <json path>: problem".
Result<Config> parse_config(std::string_view text, const std::string& path);
// Reads and parses config_path(explicit_path).
Result<Config> load_config(const std::string& explicit_path = "");
// What attesting needs (kbs.url and attester.backend); errors name the file.
Result<> check_complete(const Config& c);

}  // namespace veil::agent
