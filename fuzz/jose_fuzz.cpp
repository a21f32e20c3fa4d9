// JWE (as a KBS response the agent decrypts) and JWT (the attestation token) parsing.
#include <openssl/evp.h>

#include "common.hpp"
#include "kbs/jose.hpp"

namespace {
struct Keys {
  veil::crypto::Pkey rsa, ed;
  Keys() {
    if (auto k = veil::jose::generate_rsa(2048)) rsa = std::move(*k);
    EVP_PKEY* e = nullptr;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    if (ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_keygen(ctx, &e) > 0) ed.reset(e);
    EVP_PKEY_CTX_free(ctx);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Keys keys;
  auto t = veil::fuzz::text(data, size);
  (void)veil::jose::jwt_verify(keys.ed.get(), t, 1700000000);
  auto j = veil::fuzz::json_of(data, size);
  if (!j.is_discarded()) (void)veil::jose::jwe_decrypt(keys.rsa.get(), j);
  return 0;
}
