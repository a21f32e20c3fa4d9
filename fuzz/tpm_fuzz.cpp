// TPM evidence (veil-tpm-v1: quote, signature, event log) and the event-log replay.
#include <string>
#include <vector>

#include "attest/tpm.hpp"
#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static veil::attest::TpmVerifier verifier({});
  auto j = veil::fuzz::json_of(data, size);
  if (!j.is_discarded()) (void)verifier.verify(j, "report-data");
  std::vector<std::string> log;
  std::string cur;
  for (char c : veil::fuzz::text(data, size)) {
    if (c == '\n') {
      log.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  log.push_back(cur);
  (void)veil::attest::replay_log(log);
  return 0;
}
