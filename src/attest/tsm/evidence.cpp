#include "attest/tsm/evidence.hpp"

#include "attest/bytes.hpp"
#include "attest/crypto.hpp"
#include "attest/tsm/cert_table.hpp"
#include "attest/tsm/sev_guest.hpp"

namespace veil::attest::tsm {
namespace {

constexpr size_t kQuoteHeaderSize = 48;
constexpr size_t kTdReportDataOffset = 520;  // in the TD report body (1.0 and 1.5)
constexpr size_t kTdReportBody10Size = 584;

uint32_t le(std::string_view b, size_t at, int bytes) {
  return static_cast<uint32_t>(veil::attest::le(b, at, bytes));
}

}  // namespace

Result<json> snp_evidence(std::string_view report, std::string_view cert_table,
                          std::string_view field64) {
  if (report.size() != kSnpReportSize)
    return fail("snp: the report is " + std::to_string(report.size()) + " bytes, expected " +
                std::to_string(kSnpReportSize));
  if (report.substr(kSnpReportDataOffset, 64) != field64)
    return fail("snp: the report's REPORT_DATA is not the report data veil asked for");
  json ev{{"format", kSnpFormat}, {"report", crypto::b64url(report)}};
  if (!cert_table.empty()) {
    auto certs = parse_cert_table(cert_table);
    if (!certs) return std::unexpected(certs.error().wrap("snp"));
    for (const auto& c : *certs) {
      if (c.guid == kVcekGuid) ev["vcek"] = crypto::b64url(c.der);
      if (c.guid == kVlekGuid) ev["vlek"] = crypto::b64url(c.der);
    }
  }
  return ev;
}

Result<std::string_view> tdx_quote_report_data(std::string_view q) {
  if (q.size() < kQuoteHeaderSize) return fail("tdx: quote shorter than its header");
  uint32_t version = le(q, 0, 2), tee_type = le(q, 4, 4);
  if (tee_type != 0x81)
    return fail("tdx: quote TEE type " + std::to_string(tee_type) + " is not TDX (0x81)");
  size_t body = kQuoteHeaderSize;
  if (version == 5) {
    if (q.size() < kQuoteHeaderSize + 6) return fail("tdx: quote too short");
    uint32_t type = le(q, 48, 2);
    if (type != 2 && type != 3)
      return fail("tdx: quote v5 body type " + std::to_string(type) + " is not a TD report");
    body += 6;
  } else if (version != 4) {
    return fail("tdx: quote version " + std::to_string(version) + " (expected 4 or 5)");
  }
  if (q.size() < body + kTdReportBody10Size) return fail("tdx: quote too short");
  return q.substr(body + kTdReportDataOffset, 64);
}

Result<json> tdx_evidence(std::string_view quote, std::string_view cc_eventlog,
                          std::string_view field64) {
  auto rd = VEIL_TRY(tdx_quote_report_data(quote));
  if (rd != field64)
    return fail("tdx: the quote's REPORTDATA is not the report data veil asked for");
  json ev{{"format", kTdxFormat}, {"quote", crypto::b64url(quote)}};
  if (!cc_eventlog.empty()) ev["cc_eventlog"] = crypto::b64url(cc_eventlog);
  return ev;
}

}  // namespace veil::attest::tsm
