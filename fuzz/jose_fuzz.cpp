// JOSE as veil-kbs and the agent read it: JWE (a KBS response the agent decrypts, RSA-OAEP-256
// and ECDH-ES), JWT (the attestation token the KBS gets back), JWK import (tee-pubkey, epk; an
// imported key must export to a JWK that imports again), and the base64url/hex decoders.
#include <openssl/evp.h>

#include "attest/crypto.hpp"
#include "common.hpp"
#include "kbs/jose.hpp"

namespace {
struct Keys {
  veil::crypto::Pkey rsa, p256, ed;
  Keys() {
    auto r = veil::jose::generate_rsa(2048);
    auto p = veil::jose::generate_p256();
    auto e = veil::crypto::ed25519_generate();
    if (!r || !p || !e) __builtin_trap();
    rsa = std::move(*r);
    p256 = std::move(*p);
    ed = std::move(*e);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Keys keys;
  auto t = veil::fuzz::text(data, size);
  (void)veil::crypto::unb64url(t);
  (void)veil::crypto::unhex(t);
  (void)veil::jose::jwt_verify(keys.ed.get(), t, 1700000000);
  auto j = veil::fuzz::json_of(data, size);
  if (j.is_discarded()) return 0;
  std::string alg;
  if (auto pub = veil::jose::jwk_to_public(j, &alg)) {
    auto again = veil::jose::public_jwk(pub->get());
    if (again && !veil::jose::jwk_to_public(*again, nullptr)) __builtin_trap();
  }
  (void)veil::jose::jwe_decrypt(keys.rsa.get(), j);
  (void)veil::jose::jwe_decrypt(keys.p256.get(), j);
  return 0;
}
