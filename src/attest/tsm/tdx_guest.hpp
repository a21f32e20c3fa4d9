// The Intel TDX guest device, /dev/tdx_guest: the fallback for kernels without configfs-tsm.
// TDX_CMD_GET_REPORT0 gives a TDREPORT (MAC'ed for this platform only, not verifiable remotely);
// TDX_CMD_GET_QUOTE hands it to the host's Quote Generation Service (QGS) through the VMM
// (TDVMCALL<GetQuote>) and returns the signed DCAP quote.
//
// Mainline Linux has only TDX_CMD_GET_REPORT0 (include/uapi/linux/tdx-guest.h, 6.2+; quotes came
// with configfs-tsm in 6.7). TDX_CMD_GET_QUOTE exists in the TDX guest kernels that preceded
// configfs-tsm (Intel's tdx-linux, the distribution TDX kernels); its number varied, so the
// numbers below are tried in order while the kernel answers ENOTTY:
//   _IOR('T', 4, struct tdx_quote_req)    Intel's driver, as Intel DCAP's libtdx_attest uses it
//   _IOWR('T', 4, struct tdx_quote_req)   the same, "V3" driver
//   _IOR('T', 2, struct tdx_quote_req)    the tdx-guest GetQuote patch series' header
// The buffer is struct tdx_quote_hdr {u64 version = 1, u64 status, u32 in_len, u32 out_len} and
// data; the data is what libtdx_attest sends on that path: a 4-byte big-endian length and a QGS
// message (qgs_msg_lib: header {u16 major = 1, u16 minor = 0, u32 type, u32 size, u32
// error_code}; GET_QUOTE_REQ body {u32 report_size, u32 id_list_size, report}); the answer is the
// same framing around GET_QUOTE_RESP {u32 selected_id_size, u32 quote_size, id, quote}.
// The Linux header has no copy on Debian 12 (linux-libc-dev 6.1), so everything is defined here.
// None of this runs outside a TDX guest: the tests check the bytes only.
#pragma once

#include <sys/ioctl.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::attest::tsm {

inline constexpr size_t kTdReportSize = 1024;
inline constexpr size_t kTdxQuoteBufferSize = 16 * 1024;  // libtdx_attest's REQ_BUF_SIZE

// struct tdx_report_req
struct TdxReportReq {
  uint8_t reportdata[64];
  uint8_t tdreport[kTdReportSize];
};
// struct tdx_quote_hdr (the data follows it)
struct TdxQuoteHdr {
  uint64_t version;
  uint64_t status;
  uint32_t in_len;
  uint32_t out_len;
};
// struct tdx_quote_req
struct TdxQuoteReq {
  uint64_t buf;
  uint64_t len;
};
static_assert(sizeof(TdxReportReq) == 1088 && sizeof(TdxQuoteHdr) == 24 &&
              sizeof(TdxQuoteReq) == 16);

inline constexpr unsigned long kTdxCmdGetReport0 = _IOWR('T', 1, TdxReportReq);
inline constexpr unsigned long kTdxCmdGetQuoteCandidates[] = {
    _IOR('T', 4, TdxQuoteReq), _IOWR('T', 4, TdxQuoteReq), _IOR('T', 2, TdxQuoteReq)};

inline constexpr uint64_t kGetQuoteSuccess = 0;
inline constexpr uint64_t kGetQuoteInFlight = 0xffffffffffffffffull;
inline constexpr uint64_t kGetQuoteError = 0x8000000000000000ull;
inline constexpr uint64_t kGetQuoteServiceUnavailable = 0x8000000000000001ull;

inline constexpr uint32_t kQgsGetQuoteReq = 0;
inline constexpr uint32_t kQgsGetQuoteResp = 1;

TdxReportReq tdx_report_req(std::string_view field64);
// The GetQuote buffer (header, length, QGS request around the TDREPORT), `buffer_size` bytes.
std::string tdx_quote_buffer(std::string_view tdreport, size_t buffer_size = kTdxQuoteBufferSize);
TdxQuoteReq tdx_quote_req(void* buffer, size_t len);
// The quote out of the buffer the VMM filled in. Errors start with "tdx-guest: TDX_CMD_GET_QUOTE:
// ".
Result<std::string> tdx_quote_from_buffer(std::string_view buffer);

// Opens `device`; TDREPORT over field64 (64 bytes), then the quote.
Result<std::string> tdx_guest_quote(const std::string& device, std::string_view field64);

}  // namespace veil::attest::tsm
