// The SNP and TDX evidence JSON built from reports and quotes real hardware produced
// (tests/data/tee, see its PROVENANCE.md), and what the builders refuse.
#include <gtest/gtest.h>

#include "attest/crypto.hpp"
#include "attest/tsm/cert_table.hpp"
#include "attest/tsm/configfs.hpp"
#include "attest/tsm/evidence.hpp"
#include "attest/tsm/sev_guest.hpp"
#include "base/file.hpp"

namespace {

using namespace veil;
using namespace veil::attest::tsm;

std::string data(const std::string& rel) {
  return read_file(std::string(VEIL_TEE_DATA) + "/" + rel).value();
}

TEST(TsmEvidence, InblobIsReportDataThenZeros) {
  std::string rd(32, '\x5a');
  auto b = inblob_for(rd);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, rd + std::string(32, '\0'));
  EXPECT_FALSE(inblob_for(std::string(65, 'x')));
}

TEST(TsmEvidence, SnpReportAndVcek) {
  std::string report = data("snp/test-report.bin");
  std::string vcek = data("snp/test-vcek.der");
  std::string field = report.substr(kSnpReportDataOffset, 64);
  std::string table =
      build_cert_table({{kVcekGuid, vcek}, {kAskGuid, "ask"}, {kArkGuid, "ark"}}, 0x4000);
  auto ev = snp_evidence(report, table, field);
  ASSERT_TRUE(ev) << ev.error().str();
  EXPECT_EQ((*ev)["format"], "veil-snp-v1");
  EXPECT_EQ(crypto::unb64url((*ev)["report"].get<std::string>()).value(), report);
  EXPECT_EQ(crypto::unb64url((*ev)["vcek"].get<std::string>()).value(), vcek);
  EXPECT_FALSE(ev->contains("vlek"));
  EXPECT_EQ(ev->size(), 3u);  // ASK and ARK are not sent

  std::string vlek_report = data("snp/test-vlek-report.bin");
  auto vl = snp_evidence(vlek_report, build_cert_table({{kVlekGuid, data("snp/test-vlek.der")}}),
                         vlek_report.substr(kSnpReportDataOffset, 64));
  ASSERT_TRUE(vl) << vl.error().str();
  EXPECT_TRUE(vl->contains("vlek"));
  EXPECT_FALSE(vl->contains("vcek"));

  auto bare = snp_evidence(report, "", field);  // no certificates: the verifier fetches the VCEK
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->size(), 2u);
}

TEST(TsmEvidence, SnpRefusals) {
  std::string report = data("snp/test-report.bin");
  std::string field = report.substr(kSnpReportDataOffset, 64);
  auto other = snp_evidence(report, "", std::string(64, '\0'));
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().msg.find("REPORT_DATA is not the report data"), std::string::npos);
  auto shorter = snp_evidence(report.substr(0, 1000), "", field);
  ASSERT_FALSE(shorter);
  EXPECT_NE(shorter.error().msg.find("1000 bytes, expected 1184"), std::string::npos);
  auto bad_table = snp_evidence(report, std::string(30, 'x'), field);
  ASSERT_FALSE(bad_table);
  EXPECT_NE(bad_table.error().msg.find("snp: certificate table: "), std::string::npos);
}

TEST(TsmEvidence, TdxQuotesV4AndV5) {
  for (const char* f : {"tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat"}) {
    std::string quote = data(f);
    auto rd = tdx_quote_report_data(quote);
    ASSERT_TRUE(rd) << f << ": " << rd.error().str();
    std::string field(*rd);
    std::string ccel = data("tdx/CCEL_data");
    auto ev = tdx_evidence(quote, ccel, field);
    ASSERT_TRUE(ev) << ev.error().str();
    EXPECT_EQ((*ev)["format"], "veil-tdx-v1");
    EXPECT_EQ(crypto::unb64url((*ev)["quote"].get<std::string>()).value(), quote);
    EXPECT_EQ(crypto::unb64url((*ev)["cc_eventlog"].get<std::string>()).value(), ccel);
    auto no_log = tdx_evidence(quote, "", field);
    ASSERT_TRUE(no_log);
    EXPECT_FALSE(no_log->contains("cc_eventlog"));
    EXPECT_FALSE(tdx_evidence(quote, "", std::string(64, '\0')));
  }
  // The v4 quote's REPORTDATA sits at 48 + 520, the v5 one's 6 bytes later.
  std::string q4 = data("tdx/tdx_quote_4.dat");
  EXPECT_EQ(tdx_quote_report_data(q4).value(), std::string_view(q4).substr(568, 64));
  std::string q5 = data("tdx/tdx_quote_5.dat");
  EXPECT_EQ(tdx_quote_report_data(q5).value(), std::string_view(q5).substr(574, 64));
  auto sgx = tdx_quote_report_data(data("sgx/occlum_quote.dat"));
  ASSERT_FALSE(sgx);
  EXPECT_NE(sgx.error().msg.find("not TDX"), std::string::npos);
  EXPECT_FALSE(tdx_quote_report_data(q4.substr(0, 600)));
}

}  // namespace
