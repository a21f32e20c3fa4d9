#include "kbs/jose.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <ctime>

#include "attest/json_get.hpp"

namespace veil::jose {

using crypto::Bytes;
using crypto::Pkey;

namespace {

const unsigned char* u(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Result<std::string> str_member(const json& j, const char* k) {
  if (!j.contains(k) || !j[k].is_string())
    return fail(std::string("JWK member '") + k + "' missing");
  return j[k].get<std::string>();
}

Result<Bytes> b64_member(const json& j, const char* k) {
  auto v = str_member(j, k);
  if (!v) return std::unexpected(v.error());
  return crypto::unb64url(*v);
}

Result<Pkey> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  bool ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) return fail("invalid JWK key material: " + crypto::ssl_error());
  return Pkey(key);
}

std::string bn_bytes(const BIGNUM* bn, int pad) {
  int n = std::max(BN_num_bytes(bn), pad);
  std::string out(n, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), n);
  return out;
}

std::string u32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; i++) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

// RFC 7518 §4.6.2: Concat KDF, one SHA-256 round (256-bit key), AlgorithmID = "A256GCM".
Bytes concat_kdf(std::string_view z) {
  std::string alg = "A256GCM";
  return crypto::sha256(u32(1) + std::string(z) + u32(alg.size()) + alg + u32(0) + u32(0) +
                        u32(256));
}

Result<Bytes> ecdh(EVP_PKEY* priv, EVP_PKEY* peer) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(priv, nullptr);
  size_t len = 0;
  Bytes z;
  bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
            EVP_PKEY_derive(ctx, nullptr, &len) == 1;
  if (ok) {
    z.assign(len, '\0');
    ok = EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char*>(z.data()), &len) == 1;
  }
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return fail("ECDH failed: " + crypto::ssl_error());
  return z;
}

Result<Bytes> rsa_oaep(EVP_PKEY* key, std::string_view in, bool encrypt) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  size_t len = 0;
  Bytes out;
  bool ok = ctx && (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1;
  auto run = [&](unsigned char* o) {
    return encrypt ? EVP_PKEY_encrypt(ctx, o, &len, u(in), in.size())
                   : EVP_PKEY_decrypt(ctx, o, &len, u(in), in.size());
  };
  ok = ok && run(nullptr) == 1;
  if (ok) {
    out.assign(len, '\0');
    ok = run(reinterpret_cast<unsigned char*>(out.data())) == 1;
    out.resize(len);
  }
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return fail("RSA-OAEP failed: " + crypto::ssl_error());
  return out;
}

}  // namespace

int64_t now_seconds() {
  return static_cast<int64_t>(time(nullptr));
}

Result<Pkey> jwk_to_public(const json& jwk, std::string* alg) {
  if (!jwk.is_object()) return fail("tee-pubkey is not a JWK object");
  auto kty = VEIL_TRY(str_member(jwk, "kty"));
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> guard(bld, OSSL_PARAM_BLD_free);
  if (kty == "RSA") {
    auto n = VEIL_TRY(b64_member(jwk, "n"));
    auto e = VEIL_TRY(b64_member(jwk, "e"));
    if (n.size() < 256 || n.size() > 512) return fail("RSA key must be 2048 to 4096 bits");
    if (e.empty() || e.size() > 8) return fail("invalid RSA exponent");
    BIGNUM* bn = BN_bin2bn(u(n), n.size(), nullptr);
    BIGNUM* be = BN_bin2bn(u(e), e.size(), nullptr);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
    auto key = from_params("RSA", bld);
    BN_free(bn);
    BN_free(be);
    if (key && alg) *alg = "RSA-OAEP-256";
    return key;
  }
  if (kty == "EC") {
    if (VEIL_TRY(str_member(jwk, "crv")) != "P-256")
      return fail("only EC curve P-256 is supported");
    auto x = VEIL_TRY(b64_member(jwk, "x"));
    auto y = VEIL_TRY(b64_member(jwk, "y"));
    if (x.size() != 32 || y.size() != 32) return fail("invalid P-256 coordinates");
    std::string point = "\x04" + x + y;
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    auto key = from_params("EC", bld);
    if (key && alg) *alg = "ECDH-ES";
    return key;
  }
  return fail("unsupported JWK kty '" + kty + "' (RSA or EC)");
}

Result<json> public_jwk(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    BIGNUM *n = nullptr, *e = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
    json j = {{"kty", "RSA"},
              {"alg", "RSA-OAEP-256"},
              {"n", crypto::b64url(bn_bytes(n, 0))},
              {"e", crypto::b64url(bn_bytes(e, 0))}};
    BN_free(n);
    BN_free(e);
    return j;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    if (!x || !y) return fail("cannot export EC key");
    json j = {{"kty", "EC"},
              {"crv", "P-256"},
              {"alg", "ECDH-ES"},
              {"x", crypto::b64url(bn_bytes(x, 32))},
              {"y", crypto::b64url(bn_bytes(y, 32))}};
    BN_free(x);
    BN_free(y);
    return j;
  }
  return fail("unsupported key type for JWK");
}

Result<Pkey> generate_rsa(int bits) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (!k) return fail("RSA keygen: " + crypto::ssl_error());
  return Pkey(k);
}

Result<Pkey> generate_p256() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!k) return fail("EC keygen: " + crypto::ssl_error());
  return Pkey(k);
}

Result<json> jwe_encrypt(const json& recipient_jwk, std::string_view plain) {
  std::string alg;
  auto peer = VEIL_TRY(jwk_to_public(recipient_jwk, &alg));
  json header = {{"alg", alg}, {"enc", "A256GCM"}};
  Bytes cek, encrypted_key;
  if (alg == "RSA-OAEP-256") {
    cek = crypto::random_bytes(32);
    encrypted_key = VEIL_TRY(rsa_oaep(peer.get(), cek, true));
  } else {
    auto eph = VEIL_TRY(generate_p256());
    auto epk = VEIL_TRY(public_jwk(eph.get()));
    epk.erase("alg");
    header["epk"] = epk;
    cek = concat_kdf(VEIL_TRY(ecdh(eph.get(), peer.get())));
  }
  std::string protected_b64 = crypto::b64url(header.dump());
  Bytes iv = crypto::random_bytes(12), tag;
  auto ct = VEIL_TRY(crypto::aes256gcm_seal(cek, iv, protected_b64, plain, &tag));
  return json{{"protected", protected_b64},
              {"encrypted_key", crypto::b64url(encrypted_key)},
              {"iv", crypto::b64url(iv)},
              {"ciphertext", crypto::b64url(ct)},
              {"tag", crypto::b64url(tag)}};
}

Result<std::string> jwe_decrypt(EVP_PKEY* key, const json& jwe) {
  if (!jwe.is_object()) return fail("JWE is not an object");
  for (const char* k : {"protected", "encrypted_key", "iv", "ciphertext", "tag"})
    if (!jwe.contains(k) || !jwe[k].is_string()) return fail(std::string("JWE lacks ") + k);
  std::string protected_b64 = jwe["protected"];
  json header = json::parse(VEIL_TRY(crypto::unb64url(protected_b64)), nullptr, false);
  if (!header.is_object() || attest::string_or(header, "enc") != "A256GCM")
    return fail("unsupported JWE header");
  std::string alg = attest::string_or(header, "alg");
  Bytes cek;
  if (alg == "RSA-OAEP-256") {
    auto wrapped = VEIL_TRY(b64_member(jwe, "encrypted_key"));
    cek = VEIL_TRY(rsa_oaep(key, wrapped, false));
  } else if (alg == "ECDH-ES") {
    if (!header.contains("epk")) return fail("ECDH-ES JWE lacks epk");
    auto epk = VEIL_TRY(jwk_to_public(header["epk"], nullptr));
    cek = concat_kdf(VEIL_TRY(ecdh(key, epk.get())));
  } else {
    return fail("unsupported JWE alg '" + alg + "'");
  }
  auto iv = VEIL_TRY(b64_member(jwe, "iv"));
  auto ct = VEIL_TRY(b64_member(jwe, "ciphertext"));
  auto tag = VEIL_TRY(b64_member(jwe, "tag"));
  return crypto::aes256gcm_open(cek, iv, protected_b64, ct, tag);
}

Result<std::string> jwt_sign(EVP_PKEY* key, const json& claims) {
  std::string input = crypto::b64url(json{{"alg", "EdDSA"}, {"typ", "JWT"}}.dump()) + "." +
                      crypto::b64url(claims.dump());
  auto sig = VEIL_TRY(crypto::ed25519_sign(key, input));
  return input + "." + crypto::b64url(sig);
}

Result<json> jwt_verify(EVP_PKEY* pub, std::string_view token, int64_t now) {
  if (token.size() > 16384) return fail("token too large");
  size_t a = token.find('.');
  size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos)
    return fail("malformed token");
  json header = json::parse(VEIL_TRY(crypto::unb64url(token.substr(0, a))), nullptr, false);
  if (!header.is_object() || attest::string_or(header, "alg") != "EdDSA")
    return fail("token algorithm must be EdDSA");
  auto sig = VEIL_TRY(crypto::unb64url(token.substr(b + 1)));
  if (!crypto::ed25519_verify(pub, token.substr(0, b), sig)) return fail("bad token signature");
  json claims =
      json::parse(VEIL_TRY(crypto::unb64url(token.substr(a + 1, b - a - 1))), nullptr, false);
  if (!claims.is_object()) return fail("token claims are not an object");
  if (!claims.contains("exp") || !claims["exp"].is_number_integer())
    return fail("token has no exp");
  if (claims["exp"].get<int64_t>() <= now) return fail("token expired");
  if (claims.contains("nbf") && claims["nbf"].is_number_integer() &&
      claims["nbf"].get<int64_t>() > now + 60)
    return fail("token not yet valid");
  return claims;
}

}  // namespace veil::jose
