// Sandbox measurement: what a sandbox *is*, as one SHA-256 (algorithm in docs/attestation.md).
//   measurement = SHA-256("veil-measurement-v1\0" || config_digest || rootfs_digest)
#pragma once

#include <string>

#include "attest/attest.hpp"

namespace veil::attest {

// SHA-256 of the canonical JSON of the security-relevant parts of an OCI config.
std::string config_digest(const json& oci_config);
// Merkle digest of a directory tree (names, types, permission bits, contents; never follows links).
Result<std::string> rootfs_digest(const std::string& dir);
std::string combine_measurement(std::string_view config_digest, std::string_view rootfs_digest);
// Reads <bundle>/config.json and its root.path (relative to the bundle); returns raw 32 bytes.
Result<std::string> measure_bundle(const std::string& bundle);

}  // namespace veil::attest
