// Small OpenSSL 3 wrappers shared by attestation and the KBS: digests, randomness, encodings and
// Ed25519 keys. Everything returns Result<>; no OpenSSL types leak except the owned EVP_PKEY.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::crypto {

using Bytes = std::string;  // raw bytes

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Bytes sha256(std::string_view data);
// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  Bytes final();

 private:
  EVP_MD_CTX* ctx_;
};

Bytes random_bytes(size_t n);
std::string hex(std::string_view bytes);
Result<Bytes> unhex(std::string_view text);
std::string b64url(std::string_view bytes);  // RFC 4648 §5, no padding
Result<Bytes> unb64url(std::string_view text);
std::string b64(std::string_view bytes);  // standard, padded
Result<Bytes> unb64(std::string_view text);
// Constant-time comparison.
bool equal(std::string_view a, std::string_view b);

// Ed25519.
Result<Pkey> ed25519_generate();
Result<Pkey> ed25519_from_raw_public(std::string_view raw32);
Result<Bytes> ed25519_raw_public(EVP_PKEY* key);
Result<Bytes> ed25519_sign(EVP_PKEY* key, std::string_view msg);
bool ed25519_verify(EVP_PKEY* key, std::string_view msg, std::string_view sig);

// EC P-256 public key from its 32-byte affine coordinates.
Result<Pkey> p256_from_xy(std::string_view x, std::string_view y);
// An EC public key on a named curve ("prime256v1", "secp384r1") from big-endian x and y, checked
// to be on the curve.
Result<Pkey> ec_from_xy(const char* group, std::string_view x, std::string_view y);

// PEM files (PKCS#8 private, SubjectPublicKeyInfo public).
Result<Pkey> load_private_pem(const std::string& path);
Result<Pkey> load_public_pem(const std::string& path);
Result<Pkey> public_from_pem(std::string_view pem);
Result<> save_private_pem(EVP_PKEY* key, const std::string& path);
Result<> save_public_pem(EVP_PKEY* key, const std::string& path);
Result<std::string> public_pem(EVP_PKEY* key);

// AES-256-GCM with a 12-byte IV; the tag (16 bytes) is returned/expected separately.
Result<Bytes> aes256gcm_seal(std::string_view key, std::string_view iv, std::string_view aad,
                             std::string_view plain, Bytes* tag);
Result<Bytes> aes256gcm_open(std::string_view key, std::string_view iv, std::string_view aad,
                             std::string_view cipher, std::string_view tag);

// The last OpenSSL error as text (and clears the queue).
std::string ssl_error();

}  // namespace veil::crypto
