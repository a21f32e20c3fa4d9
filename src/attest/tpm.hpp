// The `tpm` backend: TPM 2.0 through libtss2 ESAPI. veil extends an application PCR (23, SHA-256
// bank) with each sandbox's measurement and keeps the list of extended measurements (the event
// log). Evidence = a TPM2_Quote over that PCR by an attestation key (AK), with the report data as
// qualifying data, plus the log and the index of the sandbox's entry. The verifier checks the AK
// signature against AKs enrolled by the operator, the qualifying data, replays the log into the
// PCR digest, and reports the selected entry as the measurement.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "attest/attest.hpp"
#include "attest/crypto.hpp"
#include "base/fd.hpp"

namespace veil::attest {

inline constexpr const char* kTpmTee = "tpm";
inline constexpr int kTpmPcr = 23;

class TpmAttester : public Attester {
 public:
  // tcti: a TCTI configuration string, e.g. "swtpm:host=127.0.0.1,port=2321" or "device".
  // log_path: the persistent event log (one hex measurement per line, appended and fsynced on
  // every extend). It must replay to the current PCR 23, else open fails. Empty: in memory only.
  // Keep it on a tmpfs such as /run: it then resets with the PCRs at reboot. The attester holds an
  // exclusive flock on the log until it is destroyed: other attesters on the same log wait in
  // open(), so the PCR value a quote covers is always explained by the log it sends.
  static Result<std::unique_ptr<TpmAttester>> open(const std::string& tcti,
                                                   const std::string& log_path = "");
  ~TpmAttester() override;
  std::string tee() const override { return kTpmTee; }
  Result<json> evidence(std::string_view report_data) override;

  // The AK (ECC P-256, restricted signing, primary in the owner hierarchy: the same key every
  // time for this TPM) as a PEM public key, for enrolment with the KBS.
  Result<std::string> ak_public_pem();
  // Extends PCR 23 with a 32-byte measurement and appends it to the log; selects it.
  Result<> extend(std::string_view measurement);
  // Adopts a log of measurements already extended (e.g. reloaded after a restart).
  void set_log(std::vector<std::string> log) { log_ = std::move(log); }
  void select(size_t index) { selected_ = index; }

 private:
  struct Impl;
  explicit TpmAttester(std::unique_ptr<Impl> impl);
  Result<std::string> read_pcr();
  std::unique_ptr<Impl> impl_;
  std::string log_path_;
  Fd log_fd_;                     // the event log, flock'ed
  std::vector<std::string> log_;  // raw 32-byte measurements, in extend order
  size_t selected_ = 0;
};

class TpmVerifier : public Verifier {
 public:
  explicit TpmVerifier(std::vector<crypto::Pkey> enrolled_aks) : aks_(std::move(enrolled_aks)) {}
  std::string tee() const override { return kTpmTee; }
  Result<Claims> verify_evidence(const json& evidence) override;
  // Adds an attestation key (EC P-256 public key) at run time; thread-safe.
  Result<> enroll(crypto::Pkey ak);

 private:
  std::shared_mutex mu_;
  std::vector<crypto::Pkey> aks_;
};

// PCR value after extending each log entry in order from 32 zero bytes.
std::string replay_log(const std::vector<std::string>& log);

}  // namespace veil::attest
