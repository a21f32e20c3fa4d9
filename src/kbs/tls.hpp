// HTTPS material: a self-signed certificate (EC P-256, SAN localhost/127.0.0.1/::1) created on
// first start when the configured files do not exist.
#pragma once

#include <string>

#include "base/error.hpp"

namespace veil::kbs {

// Creates cert/key if both are missing; returns the certificate's SHA-256 fingerprint (hex).
Result<std::string> ensure_certificate(const std::string& cert_path, const std::string& key_path);

}  // namespace veil::kbs
