// TpmAttester: ESAPI calls (create AK, extend PCR 23, quote).
#include "attest/tpm.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include <cstring>

#include "base/fd.hpp"
#include "base/file.hpp"

namespace veil::attest {

namespace {

Error tpm_error(const std::string& what, TSS2_RC rc) {
  return Error{what + ": " + Tss2_RC_Decode(rc)};
}

TPM2B_PUBLIC ak_template() {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return t;
}

TPML_PCR_SELECTION pcr_selection() {
  TPML_PCR_SELECTION s{};
  s.count = 1;
  s.pcrSelections[0].hash = TPM2_ALG_SHA256;
  s.pcrSelections[0].sizeofSelect = 3;
  s.pcrSelections[0].pcrSelect[kTpmPcr / 8] = 1 << (kTpmPcr % 8);
  return s;
}

}  // namespace

struct TpmAttester::Impl {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  ESYS_CONTEXT* esys = nullptr;
  ESYS_TR ak = ESYS_TR_NONE;
  std::string ak_x, ak_y;
  ~Impl() {
    if (esys && ak != ESYS_TR_NONE) Esys_FlushContext(esys, ak);
    if (esys) Esys_Finalize(&esys);
    if (tcti) Tss2_TctiLdr_Finalize(&tcti);
  }
};

TpmAttester::TpmAttester(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TpmAttester::~TpmAttester() = default;

Result<std::unique_ptr<TpmAttester>> TpmAttester::open(const std::string& tcti,
                                                       const std::string& log_path) {
  auto impl = std::make_unique<Impl>();
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &impl->tcti);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("TPM TCTI '" + tcti + "'", rc));
  rc = Esys_Initialize(&impl->esys, impl->tcti, nullptr);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("Esys_Initialize", rc));
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC in_public = ak_template();
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  TPM2B_PUBLIC* out_public = nullptr;
  rc = Esys_CreatePrimary(impl->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                          ESYS_TR_NONE, &sensitive, &in_public, &outside, &creation_pcr, &impl->ak,
                          &out_public, nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("create attestation key", rc));
  const auto& ecc = out_public->publicArea.unique.ecc;
  impl->ak_x.assign(reinterpret_cast<const char*>(ecc.x.buffer), ecc.x.size);
  impl->ak_y.assign(reinterpret_cast<const char*>(ecc.y.buffer), ecc.y.size);
  Esys_Free(out_public);
  std::unique_ptr<TpmAttester> a(new TpmAttester(std::move(impl)));
  if (log_path.empty()) return a;
  a->log_path_ = log_path;
  // The log and PCR 23 must move together: one attester at a time holds the log (extend → quote)
  // so that concurrent sandboxes on this host never quote a PCR their log does not explain.
  a->log_fd_.reset(::open(log_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!a->log_fd_) return fail_errno("open event log " + log_path);
  int lr;
  do {
    lr = ::flock(a->log_fd_.get(), LOCK_EX);
  } while (lr != 0 && errno == EINTR);
  if (lr != 0) return fail_errno("lock event log " + log_path);
  {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::pread(a->log_fd_.get(), buf, sizeof buf, static_cast<off_t>(text.size()))) > 0)
      text.append(buf, static_cast<size_t>(n));
    if (n < 0) return fail_errno("read event log " + log_path);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      auto m = crypto::unhex(text.substr(start, end - start));
      if (!m || m->size() != 32) return fail(log_path + ": malformed event log line");
      a->log_.push_back(*m);
      start = end + 1;
    }
  }
  auto pcr = VEIL_TRY(a->read_pcr());
  if (pcr != replay_log(a->log_))
    return fail(log_path + ": event log does not replay to the current PCR 23 (" +
                std::to_string(a->log_.size()) + " entries); restore the log or reset the PCR");
  if (!a->log_.empty()) a->selected_ = a->log_.size() - 1;
  return a;
}

Result<std::string> TpmAttester::read_pcr() {
  TPML_PCR_SELECTION sel = pcr_selection();
  TPML_DIGEST* values = nullptr;
  TSS2_RC rc = Esys_PCR_Read(impl_->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, nullptr,
                             nullptr, &values);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("read PCR 23", rc));
  std::string out;
  if (values->count == 1)
    out.assign(reinterpret_cast<const char*>(values->digests[0].buffer), values->digests[0].size);
  Esys_Free(values);
  if (out.size() != 32) return fail("PCR 23 (sha256) is not allocated");
  return out;
}

Result<std::string> TpmAttester::ak_public_pem() {
  auto key = VEIL_TRY(crypto::p256_from_xy(impl_->ak_x, impl_->ak_y));
  return crypto::public_pem(key.get());
}

Result<> TpmAttester::extend(std::string_view measurement) {
  if (measurement.size() != 32) return fail("a measurement is 32 bytes");
  TPML_DIGEST_VALUES d{};
  d.count = 1;
  d.digests[0].hashAlg = TPM2_ALG_SHA256;
  memcpy(d.digests[0].digest.sha256, measurement.data(), 32);
  TSS2_RC rc = Esys_PCR_Extend(impl_->esys, ESYS_TR_PCR0 + kTpmPcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &d);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("extend PCR 23", rc));
  log_.emplace_back(measurement);
  selected_ = log_.size() - 1;
  if (log_fd_) {
    std::string line = crypto::hex(measurement) + "\n";
    if (write(log_fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        fsync(log_fd_.get()) != 0)
      return fail_errno("append to event log " + log_path_);
  }
  return {};
}

Result<json> TpmAttester::evidence(std::string_view report_data) {
  if (log_.empty()) return fail("no sandbox measurement has been extended");
  if (report_data.size() > sizeof(TPM2B_DATA::buffer)) return fail("report data too large");
  TPM2B_DATA qualifying{};
  qualifying.size = report_data.size();
  memcpy(qualifying.buffer, report_data.data(), report_data.size());
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;
  TPML_PCR_SELECTION sel = pcr_selection();
  TPM2B_ATTEST* quoted = nullptr;
  TPMT_SIGNATURE* sig = nullptr;
  TSS2_RC rc = Esys_Quote(impl_->esys, impl_->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          &qualifying, &scheme, &sel, &quoted, &sig);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("TPM2_Quote", rc));
  std::string quote(reinterpret_cast<const char*>(quoted->attestationData), quoted->size);
  uint8_t buf[sizeof(TPMT_SIGNATURE)];
  size_t off = 0;
  rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof buf, &off);
  Esys_Free(quoted);
  Esys_Free(sig);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm_error("marshal signature", rc));
  json log = json::array();
  for (const auto& m : log_) log.push_back(crypto::hex(m));
  return json{{"format", "veil-tpm-v1"},
              {"quote", crypto::b64url(quote)},
              {"signature", crypto::b64url(std::string_view(reinterpret_cast<char*>(buf), off))},
              {"pcr", kTpmPcr},
              {"log", log},
              {"selected", selected_}};
}

}  // namespace veil::attest
