#include "attest/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace veil::crypto {

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Bytes sha256(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.final();
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
}
Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}
void Sha256::update(std::string_view data) {
  EVP_DigestUpdate(ctx_, data.data(), data.size());
}
Bytes Sha256::final() {
  Bytes out(32, '\0');
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out.data()), &len);
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  return out;
}

Bytes random_bytes(size_t n) {
  Bytes out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) abort();
  return out;
}

std::string hex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Bytes> unhex(std::string_view text) {
  if (text.size() % 2) return fail("hex string has odd length");
  Bytes out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int a = hexval(text[i]), b = hexval(text[i + 1]);
    if (a < 0 || b < 0) return fail("invalid hex digit");
    out += static_cast<char>(a * 16 + b);
  }
  return out;
}

std::string b64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

Result<Bytes> unb64(std::string_view text) {
  if (text.size() % 4) return fail("invalid base64 length");
  for (char c : text)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return fail("invalid base64 character");
  Bytes out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return fail("invalid base64");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad++;
  if (text.size() > 1 && text[text.size() - 2] == '=') pad++;
  out.resize(n - pad);
  return out;
}

std::string b64url(std::string_view bytes) {
  std::string s = b64(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

Result<Bytes> unb64url(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '+' || c == '/' || c == '=') return fail("invalid base64url character");
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  if (s.size() % 4 == 1) return fail("invalid base64url length");
  while (s.size() % 4) s += '=';
  return unb64(s);
}

bool equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<Pkey> ed25519_generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) return fail("ed25519 keygen: " + ssl_error());
  return Pkey(k);
}

Result<Pkey> ed25519_from_raw_public(std::string_view raw) {
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (!k) return fail("invalid Ed25519 public key");
  return Pkey(k);
}

Result<Bytes> ed25519_raw_public(EVP_PKEY* key) {
  Bytes out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1)
    return fail("not an Ed25519 key");
  out.resize(len);
  return out;
}

Result<Bytes> ed25519_sign(EVP_PKEY* key, std::string_view msg) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Bytes sig(64, '\0');
  size_t len = sig.size();
  bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail("ed25519 sign: " + ssl_error());
  sig.resize(len);
  return sig;
}

bool ed25519_verify(EVP_PKEY* key, std::string_view msg, std::string_view sig) {
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

Result<Pkey> p256_from_xy(std::string_view x, std::string_view y) {
  if (x.size() != 32 || y.size() != 32) return fail("invalid P-256 coordinates");
  return ec_from_xy("prime256v1", x, y);
}

Result<Pkey> ec_from_xy(const char* group, std::string_view x, std::string_view y) {
  std::string point = "\x04" + std::string(x) + std::string(y);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  bool ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!ok) return fail(std::string("not a point on ") + group + ": " + ssl_error());
  Pkey out(key);
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new(out.get(), nullptr);
  bool valid = check && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!valid) return fail(std::string("not a point on ") + group + ": " + ssl_error());
  return out;
}

static Result<Pkey> load_pem(const std::string& path, bool priv) {
  FILE* f = fopen(path.c_str(), "r");
  if (!f) return fail_errno("open " + path);
  EVP_PKEY* k = priv ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr)
                     : PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  fclose(f);
  if (!k) return fail(path + ": not a PEM " + (priv ? "private" : "public") + " key");
  return Pkey(k);
}
Result<Pkey> load_private_pem(const std::string& path) {
  return load_pem(path, true);
}
Result<Pkey> load_public_pem(const std::string& path) {
  return load_pem(path, false);
}

Result<Pkey> public_from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (!k) return fail("not a PEM public key");
  return Pkey(k);
}

static Result<> save_pem(EVP_PKEY* key, const std::string& path, bool priv) {
  FILE* f = fopen(path.c_str(), "wx");
  if (!f) return fail_errno("create " + path);
  if (priv) fchmod(fileno(f), 0600);
  int ok = priv ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr)
                : PEM_write_PUBKEY(f, key);
  bool synced = fflush(f) == 0 && fsync(fileno(f)) == 0;
  fclose(f);
  if (ok != 1 || !synced) return fail("write " + path + ": " + ssl_error());
  return {};
}
Result<> save_private_pem(EVP_PKEY* key, const std::string& path) {
  return save_pem(key, path, true);
}
Result<> save_public_pem(EVP_PKEY* key, const std::string& path) {
  return save_pem(key, path, false);
}

Result<std::string> public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

Result<Bytes> aes256gcm_seal(std::string_view key, std::string_view iv, std::string_view aad,
                             std::string_view plain, Bytes* tag) {
  if (key.size() != 32 || iv.size() != 12) return fail("aes-256-gcm: bad key or iv size");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(plain.size(), '\0');
  tag->assign(16, '\0');
  int len = 0, fin = 0;
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  bool ok =
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, u(key), u(iv)) == 1 &&
      (aad.empty() ||
       EVP_EncryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1) &&
      EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u(plain),
                        static_cast<int>(plain.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &fin) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag->data()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return fail("aes-256-gcm seal: " + ssl_error());
  return out;
}

Result<Bytes> aes256gcm_open(std::string_view key, std::string_view iv, std::string_view aad,
                             std::string_view cipher, std::string_view tag) {
  if (key.size() != 32 || iv.size() != 12 || tag.size() != 16)
    return fail("aes-256-gcm: bad key, iv or tag size");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(cipher.size(), '\0');
  Bytes t(tag);
  int len = 0, fin = 0;
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, u(key), u(iv)) == 1 &&
            (aad.empty() ||
             EVP_DecryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1) &&
            EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u(cipher),
                              static_cast<int>(cipher.size())) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, t.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  ERR_clear_error();
  if (!ok) return fail("aes-256-gcm: authentication failed");
  return out;
}

}  // namespace veil::crypto
