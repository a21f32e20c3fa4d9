#include "kbs/agent/job.hpp"

#include <stdio.h>
#include <string.h>

#include "attest/measure.hpp"
#include "attest/sample.hpp"
#include "attest/tpm.hpp"
#include "attest/tsm/attester.hpp"
#include "base/file.hpp"
#include "kbs/client.hpp"
#include "kbs/jose.hpp"

namespace veil::agent {
namespace {

Result<std::unique_ptr<attest::Attester>> make_tpm(const AttesterSettings& a,
                                                   const std::string& measurement) {
  if (auto slash = a.event_log.rfind('/'); slash != std::string::npos && slash > 0)
    VEIL_CHECK(mkdir_all(a.event_log.substr(0, slash), 0700));
  // open() holds the event log's lock until the attester is destroyed (after the quote).
  auto tpm = VEIL_TRY(attest::TpmAttester::open(a.tcti, a.event_log));
  VEIL_CHECK(tpm->extend(measurement));
  return std::unique_ptr<attest::Attester>(std::move(tpm));
}

// Why the TPM attester.tcti names is not there ("" if it may be: a device TCTI whose node exists,
// or another TCTI such as swtpm, which only trying can tell).
std::string tpm_missing(const AttesterSettings& a) {
  if (!a.tcti.starts_with("device")) return "";
  auto colon = a.tcti.find(':');
  if (colon != std::string::npos && colon + 1 < a.tcti.size()) {
    std::string dev = a.tcti.substr(colon + 1);
    return path_exists(dev) ? "" : "attester.tcti \"" + a.tcti + "\": no " + dev;
  }
  return path_exists("/dev/tpmrm0") || path_exists("/dev/tpm0") ? ""
                                                                : "no /dev/tpmrm0 or /dev/tpm0";
}

// snp and tdx evidence covers the confidential VM (its launch measurement) and the report data;
// the sandbox measurement is not part of it.
Result<std::unique_ptr<attest::Attester>> make_attester(const AttesterSettings& a,
                                                        const std::string& measurement) {
  if (a.backend == attest::kTpmTee) return make_tpm(a, measurement);
  if (a.backend == attest::kSampleTee) {
    fprintf(stderr, "veil-attest: WARNING: the sample attester is INSECURE (development only)\n");
    auto key = crypto::load_private_pem(a.sample_key);
    if (!key) return std::unexpected(key.error().wrap("attester.sample_key"));
    return std::unique_ptr<attest::Attester>(
        new attest::SampleAttester(std::move(*key), crypto::hex(measurement), a.svn));
  }
  if (a.backend == attest::tsm::kSnpTee || a.backend == attest::tsm::kTdxTee) {
    std::optional<unsigned> vmpl;
    if (a.backend == attest::tsm::kSnpTee) vmpl = a.snp_vmpl;
    auto tee = VEIL_TRY(attest::tsm::TsmAttester::open({.tee = a.backend, .privlevel = vmpl}));
    return std::unique_ptr<attest::Attester>(std::move(tee));
  }
  if (a.backend == "auto") {  // the TEE this guest has, else the configured TPM
    auto tee = attest::tsm::TsmAttester::open({});
    // The VMPL is an SNP notion: asked for only when the guest turns out to be SNP.
    if (tee && (*tee)->tee() == attest::tsm::kSnpTee && a.snp_vmpl)
      tee = attest::tsm::TsmAttester::open({.tee = attest::tsm::kSnpTee, .privlevel = a.snp_vmpl});
    if (tee) return std::unique_ptr<attest::Attester>(std::move(*tee));
    std::string no_tpm = tpm_missing(a);
    if (no_tpm.empty()) return make_tpm(a, measurement);
    return fail("no evidence source: " + tee.error().str() + "; tpm: " + no_tpm);
  }
  return fail("attester.backend \"" + a.backend + "\" is not supported");
}

}  // namespace

Result<Outcome> run_job(const Job& job, const Sink& sink) {
  VEIL_CHECK(check_complete(job.cfg));
  std::string measurement = VEIL_TRY(attest::measure_config(job.config, job.bundle));
  auto attester = make_attester(job.cfg.attester, measurement);
  if (!attester)
    return std::unexpected(attester.error().wrap("attester " + job.cfg.attester.backend));
  auto tee_key = VEIL_TRY(jose::generate_p256());
  std::string ca = job.cfg.kbs.ca_cert;
  if (ca.empty() && job.cfg.kbs.url.starts_with("https://") &&
      path_exists("/etc/ssl/certs/ca-certificates.crt"))
    ca = "/etc/ssl/certs/ca-certificates.crt";
  kbs::Client client({job.cfg.kbs.url, ca});
  auto where = "KBS " + job.cfg.kbs.url;
  if (auto t = client.attest(**attester, tee_key.get()); !t)
    return std::unexpected(t.error().wrap(where));
  // "auto" has resolved to snp, tdx or tpm.
  std::string tee = (*attester)->tee();
  attester->reset();  // releases the TPM and the event log's lock
  for (const auto& s : job.secrets) {
    auto data = client.get_resource(s.path, tee_key.get());
    if (!data) return std::unexpected(data.error().wrap(where));
    auto r = sink(s, *data);
    ::explicit_bzero(data->data(), data->size());
    VEIL_CHECK(r);
  }
  return Outcome{crypto::hex(measurement), tee};
}

}  // namespace veil::agent
