// The guest-device fallbacks (/dev/sev-guest, /dev/tdx_guest), byte by byte: the request
// structures and ioctl numbers against the Linux UAPI layouts, and the parsing of what the
// firmware or the VMM answers. The ioctls themselves cannot run here (no SEV-SNP or TDX guest on a
// build host): sev_guest_report() and tdx_guest_quote() are untested beyond their pure parts.
#include <gtest/gtest.h>

#include <cstring>

#include "attest/tsm/sev_guest.hpp"
#include "attest/tsm/tdx_guest.hpp"

namespace {

using namespace veil::attest::tsm;

template <class T>
std::string bytes_of(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
uint64_t le(std::string_view b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}
std::string field() {
  std::string f(64, '\0');
  for (int i = 0; i < 32; ++i) f[i] = static_cast<char>(0xa0 + i);
  return f;
}

TEST(TsmIoctl, Numbers) {
  // _IOWR('S', n, 32 bytes), _IOWR('T', 1, 1088 bytes), _IOR / _IOWR('T', n, 16 bytes).
  EXPECT_EQ(kSnpGetReport, 0xC0205300ul);
  EXPECT_EQ(kSnpGetExtReport, 0xC0205302ul);
  EXPECT_EQ(kTdxCmdGetReport0, 0xC4405401ul);
  EXPECT_EQ(kTdxCmdGetQuoteCandidates[0], 0x80105404ul);
  EXPECT_EQ(kTdxCmdGetQuoteCandidates[1], 0xC0105404ul);
  EXPECT_EQ(kTdxCmdGetQuoteCandidates[2], 0x80105402ul);
}

TEST(TsmIoctl, SnpExtReportRequestBytes) {
  auto b = bytes_of(snp_ext_report_req(field(), 2, 0x1122334455667788ull, 0x4000));
  ASSERT_EQ(b.size(), 112u);
  EXPECT_EQ(b.substr(0, 64), field());                 // user_data: report data || 32 zeros
  EXPECT_EQ(le(b, 64, 4), 2u);                         // vmpl
  EXPECT_EQ(b.substr(68, 28), std::string(28, '\0'));  // rsvd
  EXPECT_EQ(le(b, 96, 8), 0x1122334455667788ull);      // certs_address
  EXPECT_EQ(le(b, 104, 4), 0x4000u);                   // certs_len
  EXPECT_EQ(b.substr(108, 4), std::string(4, '\0'));   // padding
  auto plain = bytes_of(snp_report_req(field(), 0));
  ASSERT_EQ(plain.size(), 96u);
  EXPECT_EQ(plain.substr(0, 64), field());
  EXPECT_EQ(plain.substr(64), std::string(32, '\0'));
}

TEST(TsmIoctl, SnpGuestRequestBytes) {
  char req = 0, resp = 0;
  auto b = bytes_of(snp_guest_request(&req, &resp));
  ASSERT_EQ(b.size(), 32u);
  EXPECT_EQ(b[0], 1);                               // msg_version
  EXPECT_EQ(b.substr(1, 7), std::string(7, '\0'));  // padding
  EXPECT_EQ(le(b, 8, 8), reinterpret_cast<uintptr_t>(&req));
  EXPECT_EQ(le(b, 16, 8), reinterpret_cast<uintptr_t>(&resp));
  EXPECT_EQ(le(b, 24, 8), 0u);  // exitinfo2
}

TEST(TsmIoctl, SnpResponseAndErrors) {
  std::string resp(4000, '\0');
  resp[4] = static_cast<char>(0xa0);  // report_size 1184 = 0x4a0
  resp[5] = 0x04;
  resp.replace(32, 1184, std::string(1184, 'R'));
  auto r = snp_report_from_response(resp, "SNP_GET_EXT_REPORT");
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(*r, std::string(1184, 'R'));
  std::string bad_status = resp;
  bad_status[0] = 0x16;
  auto s = snp_report_from_response(bad_status, "SNP_GET_EXT_REPORT");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().msg, "sev-guest: SNP_GET_EXT_REPORT: firmware status 0x16");
  std::string bad_size = resp;
  bad_size[4] = 0;
  EXPECT_FALSE(snp_report_from_response(bad_size, "SNP_GET_REPORT"));
  EXPECT_FALSE(snp_report_from_response(resp.substr(0, 20), "SNP_GET_REPORT"));
  EXPECT_EQ(snp_exitinfo2_text(0x16), "firmware error 0x16");
  EXPECT_EQ(snp_exitinfo2_text(1ull << 32), "VMM error 0x1 (certificate buffer too small)");
  EXPECT_EQ(snp_exitinfo2_text(0), "");
}

TEST(TsmIoctl, SnpDeviceMissing) {
  auto r = sev_guest_report("/nonexistent/sev-guest", field());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "sev-guest: open /nonexistent/sev-guest");
}

TEST(TsmIoctl, TdxReportRequestBytes) {
  auto b = bytes_of(tdx_report_req(field()));
  ASSERT_EQ(b.size(), 1088u);
  EXPECT_EQ(b.substr(0, 64), field());
  EXPECT_EQ(b.substr(64), std::string(1024, '\0'));
}

TEST(TsmIoctl, TdxQuoteBufferBytes) {
  std::string tdreport(kTdReportSize, 'T');
  std::string b = tdx_quote_buffer(tdreport);
  ASSERT_EQ(b.size(), kTdxQuoteBufferSize);
  EXPECT_EQ(le(b, 0, 8), 1u);      // version
  EXPECT_EQ(le(b, 8, 8), 0u);      // status
  EXPECT_EQ(le(b, 16, 4), 1052u);  // in_len: 4-byte length + 1048-byte QGS message
  EXPECT_EQ(le(b, 20, 4), 0u);     // out_len
  const unsigned char frame[] = {
      0x00, 0x00, 0x04, 0x18,  // 1048, big-endian
      0x01, 0x00, 0x00, 0x00,  // QGS major 1, minor 0
      0x00, 0x00, 0x00, 0x00,  // GET_QUOTE_REQ
      0x18, 0x04, 0x00, 0x00,  // size 1048
      0x00, 0x00, 0x00, 0x00,  // error_code
      0x00, 0x04, 0x00, 0x00,  // report_size 1024
      0x00, 0x00, 0x00, 0x00,  // id_list_size
  };
  EXPECT_EQ(b.substr(24, sizeof frame),
            std::string(reinterpret_cast<const char*>(frame), sizeof frame));
  EXPECT_EQ(b.substr(52, kTdReportSize), tdreport);
  EXPECT_EQ(b.substr(52 + kTdReportSize), std::string(b.size() - 52 - kTdReportSize, '\0'));
  char buf;
  auto q = bytes_of(tdx_quote_req(&buf, kTdxQuoteBufferSize));
  EXPECT_EQ(le(q, 0, 8), reinterpret_cast<uintptr_t>(&buf));
  EXPECT_EQ(le(q, 8, 8), kTdxQuoteBufferSize);
}

// What a VMM and QGS put back: GET_QUOTE_RESP around `quote` (after a selected id).
std::string answer(std::string_view quote, uint64_t status = 0, uint32_t qgs_error = 0,
                   std::string_view id = "ID") {
  auto put = [](std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  std::string msg;
  uint32_t size = 16 + 8 + id.size() + quote.size();
  put(msg, 1, 2);
  put(msg, 0, 2);
  put(msg, kQgsGetQuoteResp, 4);
  put(msg, size, 4);
  put(msg, qgs_error, 4);
  put(msg, id.size(), 4);
  put(msg, quote.size(), 4);
  msg += id;
  msg += quote;
  std::string b;
  put(b, 1, 8);
  put(b, status, 8);
  put(b, 1052, 4);
  put(b, 4 + msg.size(), 4);
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<char>((msg.size() >> (8 * i)) & 0xff));
  b += msg;
  b.resize(kTdxQuoteBufferSize, '\0');
  return b;
}

TEST(TsmIoctl, TdxQuoteFromBuffer) {
  auto ok = tdx_quote_from_buffer(answer("QUOTE"));
  ASSERT_TRUE(ok) << ok.error().str();
  EXPECT_EQ(*ok, "QUOTE");
  struct Case {
    std::string buf;
    const char* want;
  } cases[] = {
      {answer("Q", kGetQuoteInFlight), "has not finished"},
      {answer("Q", kGetQuoteServiceUnavailable), "(QGS) is unavailable"},
      {answer("Q", kGetQuoteError), "GetQuote failed, status 0x8000000000000000"},
      {answer("Q", 0, 0x12001), "QGS error 0x12001"},
      {answer(""), "empty quote"},
      {answer("Q").substr(0, 30), "out_len"},
      {std::string(10, '\0'), "buffer too short"},
  };
  for (const auto& c : cases) {
    auto r = tdx_quote_from_buffer(c.buf);
    ASSERT_FALSE(r) << c.want;
    EXPECT_NE(r.error().msg.find(c.want), std::string::npos) << r.error().msg;
    EXPECT_EQ(r.error().msg.rfind("tdx-guest: TDX_CMD_GET_QUOTE: ", 0), 0u);
  }
  std::string lying = answer("QUOTE");
  lying[24 + 3] = 0x7f;  // the big-endian length disagrees with out_len
  EXPECT_FALSE(tdx_quote_from_buffer(lying));
  std::string overlong = answer("QUOTE");
  overlong[24 + 4 + 20] = 0x7f;  // quote_size past the message
  EXPECT_FALSE(tdx_quote_from_buffer(overlong));
}

TEST(TsmIoctl, TdxDeviceMissing) {
  auto r = tdx_guest_quote("/nonexistent/tdx_guest", field());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "tdx-guest: open /nonexistent/tdx_guest");
}

}  // namespace
