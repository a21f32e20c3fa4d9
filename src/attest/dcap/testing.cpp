#include "attest/dcap/testing.hpp"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>

namespace veil::attest::dcap::testing {
namespace {

[[noreturn]] void die(const char* what) {
  fprintf(stderr, "dcap testing: %s failed\n", what);
  abort();
}

void check(bool ok, const char* what) {
  if (!ok) die(what);
}

crypto::Pkey p256() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  check(k != nullptr, "keygen");
  return crypto::Pkey(k);
}

std::string tlv(uint8_t tag, std::string_view v) {
  std::string out(1, static_cast<char>(tag));
  if (v.size() < 128) {
    out += static_cast<char>(v.size());
  } else {
    std::string len;
    for (size_t n = v.size(); n; n >>= 8) len.insert(len.begin(), static_cast<char>(n & 0xff));
    out += static_cast<char>(0x80 | len.size());
    out += len;
  }
  return out + std::string(v);
}

std::string der_int(unsigned v) {
  std::string b;
  do {
    b.insert(b.begin(), static_cast<char>(v & 0xff));
    v >>= 8;
  } while (v);
  if (static_cast<uint8_t>(b[0]) & 0x80) b.insert(b.begin(), '\0');
  return tlv(0x02, b);
}

const std::string kSgxOid = "\x2a\x86\x48\x86\xf8\x4d\x01\x0d\x01";

std::string field(std::string_view arc, const std::string& value) {
  return tlv(0x30, tlv(0x06, kSgxOid + std::string(arc)) + value);
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(e && X509_add_ext(cert, e, -1) == 1, "certificate extension");
  X509_EXTENSION_free(e);
}

x509::Cert make_cert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                     bool ca, long serial, const std::string& sgx_ext = "") {
  X509* c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_NAME* name = X509_NAME_new();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Test Corporation"), -1, -1, 0);
  X509_set_subject_name(c, name);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
  X509_NAME_free(name);
  ASN1_TIME_set(X509_getm_notBefore(c), static_cast<time_t>(kNotBefore));
  ASN1_TIME_set(X509_getm_notAfter(c), static_cast<time_t>(kNotAfter));
  X509_set_pubkey(c, key);
  X509* iss = issuer ? issuer : c;
  add_ext(c, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(c, iss, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_ext(c, iss, NID_subject_key_identifier, "hash");
  if (!sgx_ext.empty()) {
    ASN1_OBJECT* oid = OBJ_txt2obj(kSgxExtensionOid, 1);
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, reinterpret_cast<const unsigned char*>(sgx_ext.data()),
                          static_cast<int>(sgx_ext.size()));
    X509_EXTENSION* e = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, os);
    check(e && X509_add_ext(c, e, -1) == 1, "SGX extension");
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
  }
  check(X509_sign(c, issuer_key, EVP_sha256()) > 0, "certificate signature");
  return x509::Cert(c);
}

std::string le(uint32_t v, int n) {
  std::string out;
  for (int i = 0; i < n; i++) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

void put16(std::string& b, size_t at, uint16_t v) {
  b.replace(at, 2, le(v, 2));
}

std::string fit(std::string_view v, size_t n) {
  std::string out(v.substr(0, n));
  out.resize(n, '\0');
  return out;
}

}  // namespace

std::string sgx_extension(const PckTcb& t) {
  std::string tcb;
  for (int i = 1; i <= 16; i++)
    tcb += field(std::string("\x02") + static_cast<char>(i), der_int(t.comp[i - 1]));
  tcb += field("\x02\x11", der_int(t.pce_svn));
  tcb +=
      field("\x02\x12", tlv(0x04, std::string(reinterpret_cast<const char*>(t.comp.data()), 16)));
  return tlv(0x30, field("\x01", tlv(0x04, std::string(16, '\x42'))) +
                       field("\x02", tlv(0x30, tcb)) + field("\x03", tlv(0x04, t.pce_id)) +
                       field("\x04", tlv(0x04, t.fmspc)) +
                       field("\x05", tlv(0x0a, std::string_view("\x00", 1))));
}

std::string sign_raw(EVP_PKEY* key, std::string_view msg) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char der[128];
  size_t len = sizeof der;
  check(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, der, &len, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size()) == 1,
        "ECDSA signature");
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der;
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  check(s != nullptr, "ECDSA signature decoding");
  unsigned char rs[64];
  BN_bn2binpad(ECDSA_SIG_get0_r(s), rs, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(s), rs + 32, 32);
  ECDSA_SIG_free(s);
  return std::string(reinterpret_cast<char*>(rs), 64);
}

std::string raw_public(EVP_PKEY* key) {
  unsigned char buf[65];
  size_t len = 0;
  check(EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", buf, sizeof buf, &len) == 1 &&
            len == 65,
        "public key encoding");
  return std::string(reinterpret_cast<char*>(buf) + 1, 64);
}

std::string pem(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

Pki::Pki(const PckTcb& tcb)
    : root_key_(p256()), ca_key_(p256()), pck_key_(p256()), tcb_key_(p256()), ak_(p256()) {
  root_ = make_cert("Test SGX Root CA", root_key_.get(), nullptr, root_key_.get(), true, 1);
  ca_ = make_cert("Test SGX PCK Platform CA", ca_key_.get(), root_.get(), root_key_.get(), true, 2);
  pck_ = make_cert("Test SGX PCK Certificate", pck_key_.get(), ca_.get(), ca_key_.get(), false, 3,
                   sgx_extension(tcb));
  tcb_ = make_cert("Test SGX TCB Signing", tcb_key_.get(), root_.get(), root_key_.get(), false, 4);
}

std::string Pki::reissued_root_pem() const {
  return pem(
      make_cert("Test SGX Root CA", root_key_.get(), nullptr, root_key_.get(), true, 99).get());
}

std::string Pki::chain_pem() const {
  return pem(pck_.get()) + pem(ca_.get()) + pem(root_.get());
}
std::string Pki::signing_chain_pem() const {
  return pem(tcb_.get()) + pem(root_.get());
}

Options Pki::options(const std::string& collateral_dir, int64_t at) const {
  return {collateral_dir, at, root_pem()};
}

std::string Pki::qe_certification(const QeParams& qe) const {
  std::string report(384, '\0');
  report.replace(0, 16, fit(std::string("\x02\x02\x09\x09\x05\xff\x00\x02", 8), 16));
  report.replace(48, 16,
                 qe.attributes.empty() ? std::string("\x15\0\0\0\0\0\0\0\xe7\0\0\0\0\0\0\0", 16)
                                       : fit(qe.attributes, 16));
  report.replace(
      128, 32,
      qe.mr_signer.empty()
          ? crypto::unhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")
                .value()
          : fit(qe.mr_signer, 32));
  put16(report, 256, qe.isv_prod_id);
  put16(report, 258, qe.isv_svn);
  std::string auth;
  for (int i = 0; i < 32; i++) auth += static_cast<char>(i);
  report.replace(320, 32, crypto::sha256(raw_public(ak_.get()) + auth));
  std::string chain = chain_pem();
  return report + sign_raw(pck_key_.get(), report) + le(32, 2) + auth + le(5, 2) +
         le(static_cast<uint32_t>(chain.size()), 4) + chain;
}

std::string Pki::tdx_quote(const TdParams& p, const QeParams& qe, std::string_view given) const {
  std::string header(48, '\0');
  put16(header, 0, static_cast<uint16_t>(p.version));
  put16(header, 2, kAttKeyEcdsaP256);
  header[4] = '\x81';
  header.replace(12, 16, kIntelQeVendorId);
  size_t size = p.td15 ? kTdReport15Size : kTdReport10Size;
  std::string body(size, '\0');
  if (!given.empty()) {
    body = fit(given, size);
  } else {
    body.replace(0, 16, fit(p.tee_tcb_svn, 16));
    body.replace(16, 48, std::string(48, '\x22'));
    body.replace(64, 48, fit(p.mr_signer_seam, 48));
    body.replace(112, 8, fit(p.seam_attributes, 8));
    body.replace(120, 8, fit(p.td_attributes, 8));
    body.replace(128, 8, std::string("\xe7\x02\x06\0\0\0\0\0", 8));
    body.replace(136, 48, fit(p.mr_td, 48));
    for (size_t i = 0; i < 4; i++) body.replace(328 + 48 * i, 48, fit(p.rtmr[i], 48));
    body.replace(520, 64, fit(p.report_data, 64));
  }
  std::string signed_part = header;
  if (p.version == 5)
    signed_part += le(p.td15 ? kBodyTd15 : kBodyTd10, 2) + le(static_cast<uint32_t>(size), 4);
  signed_part += body;
  std::string cert = qe_certification(qe);
  std::string sig_data = sign_raw(ak_.get(), signed_part) + raw_public(ak_.get()) + le(6, 2) +
                         le(static_cast<uint32_t>(cert.size()), 4) + cert;
  return signed_part + le(static_cast<uint32_t>(sig_data.size()), 4) + sig_data;
}

std::string Pki::sgx_quote(const QeParams& qe, std::string_view given) const {
  std::string header(48, '\0');
  put16(header, 0, 3);
  put16(header, 2, kAttKeyEcdsaP256);
  header.replace(12, 16, kIntelQeVendorId);
  std::string body(384, '\0');
  if (!given.empty())
    body = fit(given, 384);
  else
    body.replace(64, 32, std::string(32, '\x33'));
  // v3: the QE report follows the attestation key directly (no type-6 wrapper).
  std::string sig_data =
      sign_raw(ak_.get(), header + body) + raw_public(ak_.get()) + qe_certification(qe);
  return header + body + le(static_cast<uint32_t>(sig_data.size()), 4) + sig_data;
}

std::string Pki::signed_file(const char* key, const nlohmann::json& body) const {
  std::string text = body.dump();
  return std::string("{\"") + key + "\":" + text + ",\"signature\":\"" +
         crypto::hex(sign_raw(tcb_key_.get(), text)) + "\"}";
}

Result<json> TdxAttester::evidence(std::string_view report_data) {
  if (report_data.size() > 64) return fail("report data longer than 64 bytes");
  TdParams p = params_;
  p.report_data = std::string(report_data) + std::string(64 - report_data.size(), '\0');
  return tdx_evidence(pki_.tdx_quote(p));
}

}  // namespace veil::attest::dcap::testing
