// The AMD SEV-SNP guest device, /dev/sev-guest: the fallback for kernels without configfs-tsm
// (5.19 .. 6.6). SNP_GET_EXT_REPORT returns the report and the host's certificate table (VCEK or
// VLEK, ASK, ARK); SNP_GET_REPORT (the report alone) is tried when it fails.
//
// The structures and ioctl numbers are those of the Linux UAPI header include/uapi/linux/
// sev-guest.h (Linux 5.19+); they are defined here with fixed layouts so the request bytes can be
// checked in tests, and compared with the system's header where it has one (Debian 12's
// linux-libc-dev 6.1 does). The ioctls themselves only run inside an SNP guest: not on a build
// host, so not in the tests.
#pragma once

#include <sys/ioctl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace veil::attest::tsm {

inline constexpr size_t kSnpReportSize = 1184;         // ATTESTATION_REPORT (SNP ABI, table 22)
inline constexpr size_t kSnpReportDataOffset = 0x50;   // its 64-byte REPORT_DATA field
inline constexpr size_t kSnpCertsBufferSize = 0x4000;  // SEV_FW_BLOB_MAX_SIZE: 4 pages

// struct snp_report_req
struct SnpReportReq {
  uint8_t user_data[64];
  uint32_t vmpl;
  uint8_t rsvd[28];
};
// struct snp_report_resp
struct SnpReportResp {
  uint8_t data[4000];
};
// struct snp_ext_report_req
struct SnpExtReportReq {
  SnpReportReq data;
  uint64_t certs_address;
  uint32_t certs_len;
};
// struct snp_guest_request_ioctl
struct SnpGuestRequestIoctl {
  uint8_t msg_version;
  uint64_t req_data;
  uint64_t resp_data;
  uint64_t exitinfo2;  // bits 63..32: VMM error, 31..0: firmware error
};
static_assert(sizeof(SnpReportReq) == 96 && sizeof(SnpReportResp) == 4000);
static_assert(sizeof(SnpExtReportReq) == 112 && sizeof(SnpGuestRequestIoctl) == 32);

inline constexpr unsigned long kSnpGetReport = _IOWR('S', 0x0, SnpGuestRequestIoctl);
inline constexpr unsigned long kSnpGetExtReport = _IOWR('S', 0x2, SnpGuestRequestIoctl);
inline constexpr uint32_t kSnpVmmErrInvalidLen = 1;
inline constexpr uint32_t kSnpVmmErrBusy = 2;

// The requests, built without touching a device. field64: the 64-byte report data field.
SnpReportReq snp_report_req(std::string_view field64, uint32_t vmpl);
SnpExtReportReq snp_ext_report_req(std::string_view field64, uint32_t vmpl, uint64_t certs_address,
                                   uint32_t certs_len);
SnpGuestRequestIoctl snp_guest_request(const void* req, void* resp);

// "firmware error 0x16" / "VMM error 0x1 (certificate buffer too small)" / "" for 0.
std::string snp_exitinfo2_text(uint64_t exitinfo2);
// The report out of a response (MSG_REPORT_RSP: status u32, report_size u32, 24 reserved bytes,
// the report). Errors name the step: "sev-guest: <ioctl>: ...".
Result<std::string> snp_report_from_response(std::string_view resp, std::string_view ioctl_name);

struct SnpGuestReport {
  std::string report;      // 1184 bytes
  std::string cert_table;  // the certificate table; empty if the host gave none
  std::string via;         // "SNP_GET_EXT_REPORT" or "SNP_GET_REPORT"
};
// Opens `device` and asks the firmware for a report over field64 (64 bytes).
Result<SnpGuestReport> sev_guest_report(const std::string& device, std::string_view field64,
                                        uint32_t vmpl = 0);

}  // namespace veil::attest::tsm
