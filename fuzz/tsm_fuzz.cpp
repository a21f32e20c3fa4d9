// What a confidential guest reads from the host or the firmware before it reaches the KBS: the
// SEV-SNP certificate table (configfs-tsm auxblob, SNP_GET_EXT_REPORT's buffer), the sev-guest
// report response, the TDX GetQuote buffer a VMM and QGS filled in, a quote's REPORTDATA, and
// configfs-tsm's generation text. The first byte picks the parser; the rest is its input.
#include <string>

#include "attest/tsm/cert_table.hpp"
#include "attest/tsm/configfs.hpp"
#include "attest/tsm/evidence.hpp"
#include "attest/tsm/sev_guest.hpp"
#include "attest/tsm/tdx_guest.hpp"
#include "common.hpp"

using namespace veil::attest::tsm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view in = veil::fuzz::text(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      auto certs = parse_cert_table(in);
      if (certs) {
        // Whatever parses must rebuild into a table that parses to the same certificates.
        auto again = parse_cert_table(build_cert_table(*certs));
        if (!again || again->size() != certs->size()) __builtin_trap();
        for (size_t i = 0; i < certs->size(); ++i)
          if ((*again)[i].guid != (*certs)[i].guid || (*again)[i].der != (*certs)[i].der)
            __builtin_trap();
      }
      break;
    }
    case 1: {
      auto quote = tdx_quote_from_buffer(in);
      if (quote && quote->empty()) __builtin_trap();
      break;
    }
    case 2: {
      auto report = snp_report_from_response(in, "SNP_GET_EXT_REPORT");
      if (report && report->size() != kSnpReportSize) __builtin_trap();
      // A report followed by a certificate table, as the attester puts them together.
      if (in.size() >= kSnpReportSize) {
        std::string_view rep = in.substr(0, kSnpReportSize);
        auto ev =
            snp_evidence(rep, in.substr(kSnpReportSize), rep.substr(kSnpReportDataOffset, 64));
        if (ev) (void)ev->dump();
      }
      break;
    }
    case 3: {
      auto rd = tdx_quote_report_data(in);
      if (rd) {
        if (rd->size() != 64) __builtin_trap();
        auto ev = tdx_evidence(in, "", *rd);
        if (!ev) __builtin_trap();
      }
      break;
    }
    default:
      (void)parse_generation(in);
  }
  return 0;
}
