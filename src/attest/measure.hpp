// Sandbox measurement: what a sandbox *is*, as one SHA-256 (algorithm in docs/attestation.md).
//   measurement = SHA-256("veil-measurement-v1\0" || config_digest || rootfs_digest)
#pragma once

#include <string>

#include "attest/attest.hpp"

namespace veil::attest {

// The secrets mount point (/run/secrets) is measured as an empty 0755 directory whether or not
// it exists (and /run, when missing, as a 0755 directory holding only it): veil creates it and
// mounts a tmpfs over it, so a bundle measures the same before and after its first start.
inline constexpr const char* kRunDirName = "run";
inline constexpr const char* kSecretsDirName = "secrets";

// SHA-256 of the canonical JSON of the security-relevant parts of an OCI config.
std::string config_digest(const json& oci_config);
// Merkle digest of a directory tree (names, types, permission bits, contents; never follows links).
Result<std::string> rootfs_digest(const std::string& dir);
std::string combine_measurement(std::string_view config_digest, std::string_view rootfs_digest);
// The measurement of a sandbox with this config.json (parsed) whose root.path is relative to
// `bundle`; returns raw 32 bytes.
Result<std::string> measure_config(const json& oci_config, const std::string& bundle);
// Reads <bundle>/config.json and measures it (measure_config).
Result<std::string> measure_bundle(const std::string& bundle);

}  // namespace veil::attest
