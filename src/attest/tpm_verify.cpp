// TpmVerifier: checks a TPM2_Quote (needs only the marshalling library, no TPM).
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <mutex>

#include "attest/json_get.hpp"
#include "attest/tpm.hpp"

namespace veil::attest {

std::string replay_log(const std::vector<std::string>& log) {
  std::string pcr(32, '\0');
  for (const auto& m : log) pcr = crypto::sha256(pcr + m);
  return pcr;
}

namespace {

Result<std::string> ecdsa_der(const TPMT_SIGNATURE& sig) {
  if (sig.sigAlg != TPM2_ALG_ECDSA || sig.signature.ecdsa.hash != TPM2_ALG_SHA256)
    return fail("quote signature must be ECDSA with SHA-256");
  const auto& e = sig.signature.ecdsa;
  BIGNUM* r = BN_bin2bn(e.signatureR.buffer, e.signatureR.size, nullptr);
  BIGNUM* s = BN_bin2bn(e.signatureS.buffer, e.signatureS.size, nullptr);
  ECDSA_SIG* es = ECDSA_SIG_new();
  ECDSA_SIG_set0(es, r, s);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);
  if (len <= 0) return fail("cannot encode quote signature");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

bool verify_sha256(EVP_PKEY* key, std::string_view msg, std::string_view der) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                             reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

}  // namespace

Result<> TpmVerifier::enroll(crypto::Pkey ak) {
  char group[64] = "";
  size_t len = 0;
  if (!EVP_PKEY_is_a(ak.get(), "EC") ||
      EVP_PKEY_get_utf8_string_param(ak.get(), "group", group, sizeof group, &len) != 1 ||
      std::string(group) != "prime256v1")
    return fail("an attestation key must be an EC P-256 public key");
  std::unique_lock lock(mu_);
  aks_.push_back(std::move(ak));
  return {};
}

Result<Claims> TpmVerifier::verify_evidence(const json& ev) {
  if (!ev.is_object() || string_or(ev, "format") != "veil-tpm-v1") return fail("not veil-tpm-v1");
  for (const char* k : {"quote", "signature"})
    if (!ev.contains(k) || !ev[k].is_string()) return fail(std::string("missing '") + k + "'");
  if (!ev.contains("log") || !ev["log"].is_array() || ev["log"].size() > 100000)
    return fail("missing or oversized 'log'");
  if (!ev.contains("selected") || !ev["selected"].is_number_unsigned())
    return fail("missing 'selected'");
  auto quote = VEIL_TRY(crypto::unb64url(ev["quote"].get<std::string>()));
  auto sig_bytes = VEIL_TRY(crypto::unb64url(ev["signature"].get<std::string>()));

  TPMT_SIGNATURE sig{};
  size_t off = 0;
  if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(reinterpret_cast<const uint8_t*>(sig_bytes.data()),
                                       sig_bytes.size(), &off, &sig) != TSS2_RC_SUCCESS)
    return fail("malformed quote signature");
  auto der = VEIL_TRY(ecdsa_der(sig));
  bool signed_by_enrolled = false;
  std::shared_lock lock(mu_);
  for (const auto& ak : aks_)
    signed_by_enrolled = signed_by_enrolled || verify_sha256(ak.get(), quote, der);
  lock.unlock();
  if (!signed_by_enrolled) return fail("quote is not signed by an enrolled attestation key");

  TPMS_ATTEST a{};
  off = 0;
  if (Tss2_MU_TPMS_ATTEST_Unmarshal(reinterpret_cast<const uint8_t*>(quote.data()), quote.size(),
                                    &off, &a) != TSS2_RC_SUCCESS ||
      off != quote.size())
    return fail("malformed quote");
  if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE)
    return fail("not a TPM-generated quote");
  const TPML_PCR_SELECTION& sel = a.attested.quote.pcrSelect;
  if (sel.count != 1 || sel.pcrSelections[0].hash != TPM2_ALG_SHA256 ||
      sel.pcrSelections[0].sizeofSelect != 3 || sel.pcrSelections[0].pcrSelect[0] != 0 ||
      sel.pcrSelections[0].pcrSelect[1] != 0 ||
      sel.pcrSelections[0].pcrSelect[2] != 1 << (kTpmPcr % 8))
    return fail("quote must cover exactly PCR 23 (sha256)");

  std::vector<std::string> log;
  for (const auto& e : ev["log"]) {
    if (!e.is_string()) return fail("log entries are hex strings");
    auto m = crypto::unhex(e.get<std::string>());
    if (!m || m->size() != 32) return fail("log entries are 32-byte hex digests");
    log.push_back(*m);
  }
  std::string digest = crypto::sha256(replay_log(log));
  const auto& qd = a.attested.quote.pcrDigest;
  if (!crypto::equal(std::string(reinterpret_cast<const char*>(qd.buffer), qd.size), digest))
    return fail("event log does not replay to the quoted PCR 23");
  size_t selected = ev["selected"];
  if (selected >= log.size()) return fail("'selected' is outside the log");

  Claims c;
  c.tee = kTpmTee;
  c.report_data.assign(reinterpret_cast<const char*>(a.extraData.buffer), a.extraData.size);
  c.measurement = crypto::hex(log[selected]);
  c.debug = false;
  c.svn = 0;
  c.details = {{"firmware_version", a.firmwareVersion},
               {"reset_count", a.clockInfo.resetCount},
               {"log_length", log.size()}};
  return c;
}

}  // namespace veil::attest
