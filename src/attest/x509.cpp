#include "attest/x509.hpp"

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace veil::x509 {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio mem(std::string_view data) {
  return Bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace

Result<Cert> from_der(std::string_view der) {
  auto p = reinterpret_cast<const unsigned char*>(der.data());
  X509* c = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!c) return fail("not a DER certificate: " + crypto::ssl_error());
  Cert out(c);
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return fail("trailing bytes after the DER certificate");
  return out;
}

Result<std::vector<Cert>> from_pem(std::string_view pem) {
  auto bio = mem(pem);
  std::vector<Cert> out;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
  ERR_clear_error();  // the read that ends the loop leaves "no start line"
  if (out.empty()) return fail("no PEM certificate");
  return out;
}

Result<Crl> crl_from(std::string_view data) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  if (X509_CRL* c = d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size()))) return Crl(c);
  auto bio = mem(data);
  if (X509_CRL* c = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) return Crl(c);
  return fail("not a CRL (DER or PEM): " + crypto::ssl_error());
}

std::string der(X509* c) {
  unsigned char* buf = nullptr;
  int n = i2d_X509(c, &buf);
  if (n <= 0) return "";
  std::string out(reinterpret_cast<char*>(buf), n);
  OPENSSL_free(buf);
  return out;
}

std::string subject(X509* c) {
  Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(c), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, n) : "(no subject)";
}

std::string common_name(X509* c) {
  char cn[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn);
  return cn;
}

Result<crypto::Pkey> public_key(X509* c) {
  EVP_PKEY* k = X509_get_pubkey(c);
  if (!k) return fail("certificate has no usable public key: " + crypto::ssl_error());
  return crypto::Pkey(k);
}

Result<std::pair<int64_t, int64_t>> validity(X509* c) {
  std::tm from{}, to{};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(c), &from) != 1 ||
      ASN1_TIME_to_tm(X509_get0_notAfter(c), &to) != 1)
    return fail("certificate " + subject(c) + ": unreadable validity period");
  return std::pair<int64_t, int64_t>{timegm(&from), timegm(&to)};
}

Result<> verify_chain(X509* leaf, const std::vector<X509*>& intermediates,
                      const std::vector<X509*>& roots, int64_t at,
                      const std::vector<X509_CRL*>& crls) {
  if (roots.empty()) return fail("no pinned root");
  X509_STORE* store = X509_STORE_new();
  STACK_OF(X509)* chain = sk_X509_new_null();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  auto cleanup = [&] {
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    X509_STORE_free(store);
  };
  for (X509* r : roots) X509_STORE_add_cert(store, r);
  for (X509* i : intermediates) sk_X509_push(chain, i);
  if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1) {
    cleanup();
    return fail("cannot set up chain verification: " + crypto::ssl_error());
  }
  // Only the given roots are trusted: no partial chains, no system store.
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (at != 0) X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at));
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* bad = X509_STORE_CTX_get_current_cert(ctx);
  std::string who = bad ? subject(bad) : "depth " + std::to_string(depth);
  if (ok != 1) {
    std::string msg = who + ": " + X509_verify_cert_error_string(err);
    cleanup();
    ERR_clear_error();
    return fail(msg);
  }
  // The verified path, leaf first; the last element is one of our roots.
  STACK_OF(X509)* path = X509_STORE_CTX_get1_chain(ctx);
  Result<> result;
  for (int i = 0; result && i + 1 < sk_X509_num(path); i++) {
    X509* cert = sk_X509_value(path, i);
    X509* issuer = sk_X509_value(path, i + 1);
    crypto::Pkey issuer_key(X509_get_pubkey(issuer));
    for (X509_CRL* crl : crls) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) continue;
      if (!issuer_key || X509_CRL_verify(crl, issuer_key.get()) != 1) continue;  // not its CRL
      X509_REVOKED* rev = nullptr;
      if (X509_CRL_get0_by_cert(crl, &rev, cert) == 1)
        result = fail(subject(cert) + ": revoked by " + subject(issuer) + "'s CRL");
    }
  }
  sk_X509_pop_free(path, X509_free);
  cleanup();
  ERR_clear_error();
  return result;
}

std::optional<std::string> extension(X509* c, const char* dotted_oid) {
  ASN1_OBJECT* obj = OBJ_txt2obj(dotted_oid, 1);
  if (!obj) return std::nullopt;
  int idx = X509_get_ext_by_OBJ(c, obj, -1);
  ASN1_OBJECT_free(obj);
  if (idx < 0) return std::nullopt;
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(c, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     ASN1_STRING_length(data));
}

bool ecdsa_verify_raw(EVP_PKEY* key, const EVP_MD* md, std::string_view msg, std::string_view r,
                      std::string_view s) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* br = BN_bin2bn(reinterpret_cast<const unsigned char*>(r.data()), r.size(), nullptr);
  BIGNUM* bs = BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()), s.size(), nullptr);
  if (!sig || !br || !bs || ECDSA_SIG_set0(sig, br, bs) != 1) {
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (der_len <= 0) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, der, der_len, reinterpret_cast<const unsigned char*>(msg.data()),
                             msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

crypto::Bytes sha384(std::string_view data) {
  unsigned char out[48];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, EVP_sha384(), nullptr);
  return crypto::Bytes(reinterpret_cast<char*>(out), n);
}

}  // namespace veil::x509
