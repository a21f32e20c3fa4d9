// Secrets for a container with the org.veil.secrets annotation, without linking HTTP, TLS or TPM
// code into veil: `create` runs the attestation agent `veil-attest fetch` (installed next to the
// veil binary), which reads veil's config (/etc/veil/config.json or $VEIL_CONFIG), parses the
// annotation, measures the sandbox, attests, fetches and decrypts each resource, and hands every
// plaintext back as a sealed memfd. Nothing is written to disk. Containers without the annotation
// never reach this code.
//
// Wire protocol (both sides are in this repository):
//   stdin (a memfd, veil -> agent): {"bundle": DIR, "config": TEXT of config.json}
//   fd 3  (SOCK_SEQPACKET, agent -> veil), one JSON packet each:
//         {"secret": TAG, "size": N} + the memfd (sealed: no write, grow or shrink)
//         {"done": true, "measurement": HEX, "tee": NAME}      last packet on success
//         {"error": TEXT}                                      last packet on failure
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/secrets_mount.hpp"

namespace veil::runtime {

inline constexpr const char* kSecretsAnnotation = "org.veil.secrets";

// True when the container asks for secrets.
inline bool wants_secrets(const std::map<std::string, std::string>& annotations) {
  return annotations.contains(kSecretsAnnotation);
}

// The agent binary: "veil-attest" in the directory of the running veil.
std::string agent_path();

// Runs the agent for this bundle (config_text is config.json exactly as veil parsed it: the
// measured config) and makes sure the mount point /run/secrets exists in the rootfs (only after
// the KBS said yes). Fails with the agent's reason, e.g. "KBS http://...: resource a/b/c:
// HTTP 403: rule 'a/*/*': measurement ... not in reference values".
Result<std::vector<secrets_mount::SecretFile>> fetch_secrets(const std::string& bundle,
                                                             const std::string& config_text,
                                                             const std::string& rootfs);

}  // namespace veil::runtime
