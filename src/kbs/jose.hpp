// JOSE pieces the KBS needs, by hand on OpenSSL EVP: JWK public keys (RSA, EC P-256), JWE in the
// flattened JSON serialization (RFC 7516 §7.2.2) with RSA-OAEP-256 or ECDH-ES key management and
// A256GCM content encryption, and compact JWS/JWT signed with EdDSA (Ed25519).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "attest/crypto.hpp"
#include "base/error.hpp"

namespace veil::jose {

using json = nlohmann::json;

// A JWK with only public members: kty RSA (n, e; 2048..4096 bits) or EC (crv P-256, x, y).
// Returns the key and fills *alg with the JWE "alg" to use (RSA-OAEP-256 or ECDH-ES).
Result<crypto::Pkey> jwk_to_public(const json& jwk, std::string* alg);
// The public JWK of a key pair (RSA or EC P-256).
Result<json> public_jwk(EVP_PKEY* key);
Result<crypto::Pkey> generate_rsa(int bits);
Result<crypto::Pkey> generate_p256();

// Encrypts `plain` to the JWK's key. Returns the flattened JWE JSON.
Result<json> jwe_encrypt(const json& recipient_jwk, std::string_view plain);
// Decrypts a flattened JWE with the recipient's private key.
Result<std::string> jwe_decrypt(EVP_PKEY* key, const json& jwe);

// Compact JWS with alg EdDSA over the JSON claims.
Result<std::string> jwt_sign(EVP_PKEY* ed25519_key, const json& claims);
// Verifies signature (alg must be EdDSA) and returns the claims; checks "exp" (and "nbf") against
// `now` (seconds since the epoch); a token without "exp" is refused.
Result<json> jwt_verify(EVP_PKEY* ed25519_pub, std::string_view token, int64_t now);

int64_t now_seconds();

}  // namespace veil::jose
