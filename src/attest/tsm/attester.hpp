// The in-guest hardware attester: AMD SEV-SNP ("snp") or Intel TDX ("tdx"), whichever this
// confidential VM is. Evidence comes from configfs-tsm when the kernel has it (Linux 6.7+), else
// from the guest device (/dev/sev-guest, /dev/tdx_guest). The report data (32 bytes) fills the
// first half of the TEE's 64-byte field; the rest is zeros.
//
// The report covers the whole VM (its launch measurement: firmware, kernel, initrd, command line)
// and the report data; the sandbox measurement veil computes is not part of it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "attest/attest.hpp"
#include "attest/tsm/configfs.hpp"
#include "attest/tsm/detect.hpp"

namespace veil::attest::tsm {

class TsmAttester : public Attester {
 public:
  struct Options {
    std::string tee;                    // "snp", "tdx", or "" for whichever is present
    Paths paths;                        // tests: a directory playing the machine
    std::optional<unsigned> privlevel;  // SNP VMPL to ask for (default: the kernel's floor)
    ConfigfsTsm::Hook hook;             // tests only (see ConfigfsTsm)
  };
  enum class Source { kConfigfs, kDevice };

  // Finds the TEE (detect()); fails naming what is missing.
  static Result<std::unique_ptr<TsmAttester>> open(Options o);
  std::string tee() const override { return tee_; }
  Source source() const { return source_; }
  Result<json> evidence(std::string_view report_data) override;

 private:
  TsmAttester(Options o, std::string tee, Source s)
      : opts_(std::move(o)), tee_(std::move(tee)), source_(s) {}
  Options opts_;
  std::string tee_;
  Source source_;
};

}  // namespace veil::attest::tsm
