#include "kbs/tls.hpp"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/crypto.hpp"
#include "base/file.hpp"
#include "kbs/jose.hpp"

namespace veil::kbs {

namespace {

Result<> create_self_signed(const std::string& cert_path, const std::string& key_path) {
  auto key = VEIL_TRY(jose::generate_p256());
  X509* x = X509_new();
  X509_set_version(x, 2);
  auto serial = crypto::random_bytes(16);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()), 16, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_set_pubkey(x, key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("veil-kbs"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  bool ok = X509_sign(x, key.get(), EVP_sha256()) > 0;
  if (ok) {
    auto saved = crypto::save_private_pem(key.get(), key_path);
    if (!saved) {
      X509_free(x);
      return saved;
    }
    FILE* f = fopen(cert_path.c_str(), "wx");
    ok = f && PEM_write_X509(f, x) == 1;
    if (f) fclose(f);
  }
  X509_free(x);
  if (!ok) return fail("create self-signed certificate " + cert_path + ": " + crypto::ssl_error());
  return {};
}

}  // namespace

Result<std::string> ensure_certificate(const std::string& cert_path, const std::string& key_path) {
  if (!path_exists(cert_path) && !path_exists(key_path))
    VEIL_CHECK(create_self_signed(cert_path, key_path));
  FILE* f = fopen(cert_path.c_str(), "r");
  if (!f) return fail_errno("open " + cert_path);
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  if (!x) return fail(cert_path + ": not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  X509_digest(x, EVP_sha256(), md, &len);
  X509_free(x);
  return crypto::hex(std::string_view(reinterpret_cast<char*>(md), len));
}

}  // namespace veil::kbs
