// configfs-tsm (Linux 6.7+, Documentation/ABI/testing/configfs-tsm-report): one report entry per
// request, so concurrent attesters never share one.
//
//   mkdir <root>/<unique name>          the kernel fills it with attributes
//   read  generation                    g0
//   write privlevel (if asked, or if privlevel_floor > 0), inblob (64 bytes)
//   read  provider, outblob, auxblob    reading outblob makes the report
//   read  generation                    must be g0 + number of writes, else another writer
//                                       touched the entry: start again in a new entry
//   rmdir the entry                     always, also on error
//
// A configfs write error on inblob is only reported when the file is closed, and not always: the
// generation check also catches a write the kernel did not take. No step waits or polls; the
// number of attempts is bounded.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::attest::tsm {

inline constexpr const char* kTsmReportRoot = "/sys/kernel/config/tsm/report";
inline constexpr size_t kInblobSize = 64;

struct TsmReport {
  std::string provider;  // e.g. "sev_guest", "tdx_guest"
  std::string outblob;   // the report or quote
  std::string auxblob;   // "" if the provider has none (sev_guest: the certificate table)
  std::string entry;     // the entry it came from (removed by now)
};

// The 64-byte report data field: report_data (at most 64 bytes) then zeros.
Result<std::string> inblob_for(std::string_view report_data);

class ConfigfsTsm {
 public:
  // Called on the entry after "mkdir", "write privlevel", "write inblob", "read outblob" and
  // before "rmdir". Tests use it to play the kernel in an ordinary directory.
  using Hook = std::function<void(std::string_view step, const std::string& entry)>;

  explicit ConfigfsTsm(std::string report_root = kTsmReportRoot, Hook hook = {}, int attempts = 3)
      : root_(std::move(report_root)), hook_(std::move(hook)), attempts_(attempts) {}

  // inblob: exactly 64 bytes. Errors start with "tsm: " and name the step.
  Result<TsmReport> generate(std::string_view inblob,
                             std::optional<unsigned> privlevel = std::nullopt) const;

 private:
  Result<TsmReport> once(const std::string& entry, std::string_view inblob,
                         std::optional<unsigned> privlevel, bool* conflict) const;
  void step(std::string_view what, const std::string& entry) const {
    if (hook_) hook_(what, entry);
  }
  std::string root_;
  Hook hook_;
  int attempts_;
};

// A "generation" attribute's text as a number.
Result<unsigned long> parse_generation(std::string_view text);

}  // namespace veil::attest::tsm
