// TPM evidence (veil-tpm-v1) as veil-kbs verifies it: the JSON as it stands, and, past the
// signature check, the TPMS_ATTEST quote blob and the PCR 23 event-log replay.
// For the second part the input is a quote blob (2-byte big-endian length, then the bytes)
// followed by the rest of the evidence as JSON ({"log": [...], "selected": n}). The harness signs
// the blob with an enrolled attestation key as a TPM would, so the fuzzer reaches the
// unmarshalling; the expected report data is the quote's own extraData when it has one.
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include <string>

#include "attest/crypto.hpp"
#include "attest/tpm.hpp"
#include "common.hpp"

using veil::attest::json;

namespace {

struct Tpm {
  EVP_PKEY* ak = nullptr;
  veil::attest::TpmVerifier verifier{{}};
  Tpm() {
    ak = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!ak || EVP_PKEY_up_ref(ak) != 1 || !verifier.enroll(veil::crypto::Pkey(ak)))
      __builtin_trap();
  }
};

Tpm& tpm() {
  static Tpm* t = new Tpm;
  return *t;
}

// A marshalled TPMT_SIGNATURE (ECDSA, SHA-256) over msg by the enrolled key.
std::string tpm_sign(std::string_view msg) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char der[128];
  size_t der_len = sizeof der;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, tpm().ak) != 1 ||
      EVP_DigestSign(ctx, der, &der_len, reinterpret_cast<const unsigned char*>(msg.data()),
                     msg.size()) != 1)
    __builtin_trap();
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der;
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  TPMT_SIGNATURE sig{};
  sig.sigAlg = TPM2_ALG_ECDSA;
  sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
  auto& e = sig.signature.ecdsa;
  e.signatureR.size = BN_bn2binpad(ECDSA_SIG_get0_r(es), e.signatureR.buffer, 32);
  e.signatureS.size = BN_bn2binpad(ECDSA_SIG_get0_s(es), e.signatureS.buffer, 32);
  ECDSA_SIG_free(es);
  uint8_t buf[sizeof(TPMT_SIGNATURE)];
  size_t off = 0;
  if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, buf, sizeof buf, &off) != TSS2_RC_SUCCESS)
    __builtin_trap();
  return std::string(reinterpret_cast<char*>(buf), off);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& verifier = tpm().verifier;
  auto raw = veil::fuzz::json_of(data, size);
  if (!raw.is_discarded()) (void)verifier.verify(raw, "report-data");
  if (size < 2) return 0;
  size_t len = std::min<size_t>((size_t{data[0]} << 8) | data[1], size - 2);
  std::string quote(veil::fuzz::text(data + 2, len));
  json ev = veil::fuzz::json_of(data + 2 + len, size - 2 - len);
  if (!ev.is_object()) ev = json::object();
  ev["format"] = "veil-tpm-v1";
  ev["quote"] = veil::crypto::b64url(quote);
  ev["signature"] = veil::crypto::b64url(tpm_sign(quote));
  if (!ev.contains("log")) ev["log"] = json::array();
  if (!ev.contains("selected")) ev["selected"] = 0;
  std::string expected(32, '\0');
  TPMS_ATTEST a{};
  size_t off = 0;
  if (Tss2_MU_TPMS_ATTEST_Unmarshal(data + 2, len, &off, &a) == TSS2_RC_SUCCESS)
    expected.assign(reinterpret_cast<const char*>(a.extraData.buffer), a.extraData.size);
  auto claims = verifier.verify(ev, expected);
  if (claims) (void)claims->to_json().dump();
  return 0;
}
