// X.509 and raw-ECDSA helpers for the hardware TEE verifiers (SEV-SNP, TDX, SGX), all OpenSSL 3.
// Certificates are owned `Cert`s; chains are checked against pinned roots compared byte for byte
// (a root in the evidence is never trusted because it is there).
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/crypto.hpp"
#include "base/error.hpp"

namespace veil::x509 {

struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Cert = std::unique_ptr<X509, CertFree>;
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using Crl = std::unique_ptr<X509_CRL, CrlFree>;

Result<Cert> from_der(std::string_view der);
// Every certificate in a PEM text, in order (at least one, else an error).
Result<std::vector<Cert>> from_pem(std::string_view pem);
// A CRL in DER or PEM.
Result<Crl> crl_from(std::string_view der_or_pem);
std::string der(X509* c);
std::string subject(X509* c);      // one-line RFC 2253 form, for messages
std::string common_name(X509* c);  // the subject's CN ("" when none)
Result<crypto::Pkey> public_key(X509* c);
// notBefore and notAfter as Unix seconds.
Result<std::pair<int64_t, int64_t>> validity(X509* c);

// Checks that `leaf` chains through `intermediates` to one of `roots` (each root is trusted only
// as the exact certificate given), every signature and validity period at `at` (Unix seconds;
// 0: now), and that no certificate is revoked by a CRL in `crls` that its issuer signed (a CRL
// that no chain certificate signed is ignored; CRLs are optional). Errors name the certificate
// (its subject) and OpenSSL's reason.
Result<> verify_chain(X509* leaf, const std::vector<X509*>& intermediates,
                      const std::vector<X509*>& roots, int64_t at = 0,
                      const std::vector<X509_CRL*>& crls = {});

// The DER contents (inside the OCTET STRING) of the extension with this dotted OID; nullopt when
// the certificate has no such extension.
std::optional<std::string> extension(X509* c, const char* dotted_oid);

// ECDSA over `msg` with `md` (EVP_sha256(), EVP_sha384()), the signature as raw big-endian r and
// s of the curve's size (what SGX/TDX quotes carry).
bool ecdsa_verify_raw(EVP_PKEY* key, const EVP_MD* md, std::string_view msg, std::string_view r,
                      std::string_view s);
// (EC keys from raw coordinates: crypto::ec_from_xy.)

crypto::Bytes sha384(std::string_view data);

}  // namespace veil::x509
