#include "attest/snp/testing.hpp"

#include <openssl/ecdsa.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace veil::attest::snp::testing {
namespace {

x509::Cert shared(X509* c) {
  if (c) X509_up_ref(c);
  return x509::Cert(c);
}

Result<crypto::Pkey> p384() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  if (!k) return fail("P-384 key generation: " + crypto::ssl_error());
  return crypto::Pkey(k);
}

X509_NAME* name(const std::string& cn) {
  X509_NAME* n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Advanced Micro Devices"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return n;
}

bool add_raw_ext(X509* c, const char* oid, const std::string& value) {
  ASN1_OBJECT* obj = OBJ_txt2obj(oid, 1);
  ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(os, reinterpret_cast<const unsigned char*>(value.data()),
                        static_cast<int>(value.size()));
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, obj, 0, os);
  bool ok = ext && X509_add_ext(c, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(os);
  ASN1_OBJECT_free(obj);
  return ok;
}

bool add_v3(X509* c, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  bool ok = ext && X509_add_ext(c, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::string der_int(int64_t v) {
  // INTEGER 0..65535, minimal two's complement (what AMD writes: 02 01 73, 02 02 00 D9).
  if (v < 0x80) return std::string{'\x02', '\x01', static_cast<char>(v)};
  if (v < 0x8000)
    return std::string{'\x02', '\x02', static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
  return std::string{'\x02', '\x03', '\0', static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// Unsigned: sign() after adding extensions.
Result<x509::Cert> make_cert(const std::string& cn, EVP_PKEY* pub, X509* issuer_cert, long serial,
                             int64_t not_before, int64_t not_after, bool ca) {
  x509::Cert c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
  X509_NAME* subject = name(cn);
  X509_set_subject_name(c.get(), subject);
  X509_set_issuer_name(c.get(), issuer_cert ? X509_get_subject_name(issuer_cert) : subject);
  X509_NAME_free(subject);
  ASN1_TIME_set(X509_getm_notBefore(c.get()), static_cast<time_t>(not_before));
  ASN1_TIME_set(X509_getm_notAfter(c.get()), static_cast<time_t>(not_after));
  X509_set_pubkey(c.get(), pub);
  if (ca && (!add_v3(c.get(), issuer_cert ? issuer_cert : c.get(), NID_basic_constraints,
                     "critical,CA:TRUE") ||
             !add_v3(c.get(), issuer_cert ? issuer_cert : c.get(), NID_key_usage,
                     "critical,keyCertSign,cRLSign")))
    return fail("extensions: " + crypto::ssl_error());
  return c;
}

Result<> sign(X509* c, EVP_PKEY* key) {
  if (X509_sign(c, key, EVP_sha384()) <= 0) return fail("X509_sign: " + crypto::ssl_error());
  return {};
}

}  // namespace

ProductRoots Hierarchy::roots() const {
  return ProductRoots{product, shared(ark.cert.get()), shared(ask.cert.get()),
                      shared(asvk.cert.get())};
}

Result<Hierarchy> make_hierarchy(const std::string& product, const std::string& cn_prefix) {
  Hierarchy h;
  h.product = product;
  h.ark.key = VEIL_TRY(p384());
  h.ask.key = VEIL_TRY(p384());
  h.asvk.key = VEIL_TRY(p384());
  int64_t from = 946684800, to = 4102444800;
  h.ark.cert = VEIL_TRY(
      make_cert(cn_prefix + "ARK-" + product, h.ark.key.get(), nullptr, 1, from, to, true));
  VEIL_CHECK(sign(h.ark.cert.get(), h.ark.key.get()));
  h.ask.cert = VEIL_TRY(make_cert(cn_prefix + "SEV-" + product, h.ask.key.get(), h.ark.cert.get(),
                                  2, from, to, true));
  VEIL_CHECK(sign(h.ask.cert.get(), h.ark.key.get()));
  h.asvk.cert = VEIL_TRY(make_cert(cn_prefix + "SEV-VLEK-" + product, h.asvk.key.get(),
                                   h.ark.cert.get(), 3, from, to, true));
  VEIL_CHECK(sign(h.asvk.cert.get(), h.ark.key.get()));
  return h;
}

Result<Issuer> make_leaf(const Hierarchy& h, const LeafSpec& spec) {
  const Issuer& issuer = spec.vlek ? h.asvk : h.ask;
  Issuer leaf;
  if (spec.key) {
    EVP_PKEY_up_ref(spec.key);
    leaf.key.reset(spec.key);
  } else {
    leaf.key = VEIL_TRY(p384());
  }
  leaf.cert =
      VEIL_TRY(make_cert(spec.vlek ? "SEV-VLEK" : "SEV-VCEK", leaf.key.get(), issuer.cert.get(),
                         spec.serial, spec.not_before, spec.not_after, false));
  X509* c = leaf.cert.get();
  if (spec.raw_extensions) {
    for (const auto& [oid, value] : *spec.raw_extensions)
      if (!add_raw_ext(c, oid.c_str(), value)) return fail("extension " + oid);
    VEIL_CHECK(sign(c, issuer.key.get()));
    return leaf;
  }
  bool ok = add_raw_ext(c, "1.3.6.1.4.1.3704.1.1", der_int(0));
  if (!spec.product_name.empty()) {
    std::string ia5 = {'\x16', static_cast<char>(spec.product_name.size())};
    ok = ok && add_raw_ext(c, "1.3.6.1.4.1.3704.1.2", ia5 + spec.product_name);
  }
  ok = ok && add_raw_ext(c, "1.3.6.1.4.1.3704.1.3.1", der_int(spec.tcb.bootloader)) &&
       add_raw_ext(c, "1.3.6.1.4.1.3704.1.3.2", der_int(spec.tcb.tee)) &&
       add_raw_ext(c, "1.3.6.1.4.1.3704.1.3.3", der_int(spec.tcb.snp)) &&
       add_raw_ext(c, "1.3.6.1.4.1.3704.1.3.8", der_int(spec.tcb.microcode));
  if (spec.with_fmc) ok = ok && add_raw_ext(c, "1.3.6.1.4.1.3704.1.3.9", der_int(spec.tcb.fmc));
  if (!spec.hwid.empty()) {
    std::string v = spec.hwid;
    if (spec.hwid_octet_string) v = std::string{'\x04', static_cast<char>(v.size())} + v;
    ok = ok && add_raw_ext(c, "1.3.6.1.4.1.3704.1.4", v);
  }
  if (!ok) return fail("VCEK extensions: " + crypto::ssl_error());
  VEIL_CHECK(sign(c, issuer.key.get()));
  return leaf;
}

Result<std::string> make_crl(const Issuer& issuer, const std::vector<long>& serials) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.cert.get()));
  ASN1_TIME* t = ASN1_TIME_set(nullptr, 946684800);
  X509_CRL_set1_lastUpdate(crl, t);
  ASN1_TIME_set(t, 4102444800);
  X509_CRL_set1_nextUpdate(crl, t);
  for (long s : serials) {
    X509_REVOKED* rev = X509_REVOKED_new();
    ASN1_INTEGER* serial = ASN1_INTEGER_new();
    ASN1_INTEGER_set(serial, s);
    X509_REVOKED_set_serialNumber(rev, serial);
    ASN1_TIME_set(t, 946684800);
    X509_REVOKED_set_revocationDate(rev, t);
    X509_CRL_add0_revoked(crl, rev);
    ASN1_INTEGER_free(serial);
  }
  ASN1_TIME_free(t);
  X509_CRL_sort(crl);
  std::string out;
  if (X509_CRL_sign(crl, issuer.key.get(), EVP_sha384()) > 0) {
    unsigned char* der = nullptr;
    int n = i2d_X509_CRL(crl, &der);
    if (n > 0) out.assign(reinterpret_cast<char*>(der), n);
    OPENSSL_free(der);
  }
  X509_CRL_free(crl);
  if (out.empty()) return fail("CRL: " + crypto::ssl_error());
  return out;
}

uint64_t encode_tcb(const Tcb& t, Product p) {
  auto at = [](uint8_t v, int i) { return static_cast<uint64_t>(v) << (8 * i); };
  if (p == Product::kTurin)
    return at(t.fmc, 0) | at(t.bootloader, 1) | at(t.tee, 2) | at(t.snp, 3) | at(t.microcode, 7);
  return at(t.bootloader, 0) | at(t.tee, 1) | at(t.snp, 6) | at(t.microcode, 7);
}

std::string make_report(const ReportSpec& s) {
  std::string r(kReportSize, '\0');
  auto put = [&r](size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) r[at + i] = static_cast<char>(v >> (8 * i));
  };
  auto copy = [&r](size_t at, const std::string& b, size_t max) {
    r.replace(at, std::min(b.size(), max), b.substr(0, max));
  };
  put(0x00, s.version, 4);
  put(0x04, s.guest_svn, 4);
  put(0x08, s.policy, 8);
  put(0x34, kSigAlgoEcdsaP384Sha384, 4);
  put(0x38, s.reported_tcb, 8);
  put(0x48, s.flags, 4);
  copy(kReportDataOffset, s.report_data, 64);
  copy(0x90, s.measurement, 48);
  copy(0xC0, s.host_data, 32);
  put(0x180, s.reported_tcb, 8);
  r[0x188] = static_cast<char>(s.cpuid_fam);
  r[0x189] = static_cast<char>(s.cpuid_mod);
  r[0x18A] = static_cast<char>(s.cpuid_step);
  copy(0x1A0, s.chip_id, 64);
  put(0x1E0, s.reported_tcb, 8);
  put(0x1F0, s.reported_tcb, 8);
  return r;
}

Result<std::string> sign_report(std::string report, EVP_PKEY* key) {
  if (report.size() < 0x2E8 + 72) return fail("report too short to sign");
  unsigned char der[160];
  size_t len = sizeof der;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, der, &len, reinterpret_cast<const unsigned char*>(report.data()),
                           kSignedSize) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail("sign report: " + crypto::ssl_error());
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (!sig) return fail("sign report: " + crypto::ssl_error());
  unsigned char rs[2][72] = {};
  BN_bn2lebinpad(ECDSA_SIG_get0_r(sig), rs[0], 72);
  BN_bn2lebinpad(ECDSA_SIG_get0_s(sig), rs[1], 72);
  ECDSA_SIG_free(sig);
  report.replace(0x2A0, 72, reinterpret_cast<char*>(rs[0]), 72);
  report.replace(0x2E8, 72, reinterpret_cast<char*>(rs[1]), 72);
  return report;
}

}  // namespace veil::attest::snp::testing
