#include "attest/tsm/sev_guest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/fd.hpp"

#if __has_include(<linux/sev-guest.h>)
#include <linux/sev-guest.h>
// The layouts above are the kernel's.
static_assert(veil::attest::tsm::kSnpGetReport == SNP_GET_REPORT);
static_assert(veil::attest::tsm::kSnpGetExtReport == SNP_GET_EXT_REPORT);
static_assert(sizeof(veil::attest::tsm::SnpReportReq) == sizeof(struct snp_report_req));
static_assert(sizeof(veil::attest::tsm::SnpExtReportReq) == sizeof(struct snp_ext_report_req));
static_assert(sizeof(veil::attest::tsm::SnpGuestRequestIoctl) ==
              sizeof(struct snp_guest_request_ioctl));
static_assert(offsetof(struct snp_ext_report_req, certs_len) ==
              offsetof(veil::attest::tsm::SnpExtReportReq, certs_len));
#endif

namespace veil::attest::tsm {
namespace {

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", v);
  return b;
}

uint32_t le32(std::string_view b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

void fill_field(uint8_t (&dst)[64], std::string_view field64) {
  std::memset(dst, 0, sizeof dst);
  std::memcpy(dst, field64.data(), std::min<size_t>(field64.size(), sizeof dst));
}

}  // namespace

SnpReportReq snp_report_req(std::string_view field64, uint32_t vmpl) {
  SnpReportReq r;
  std::memset(&r, 0, sizeof r);
  fill_field(r.user_data, field64);
  r.vmpl = vmpl;
  return r;
}

SnpExtReportReq snp_ext_report_req(std::string_view field64, uint32_t vmpl, uint64_t certs_address,
                                   uint32_t certs_len) {
  SnpExtReportReq r;
  std::memset(&r, 0, sizeof r);  // padding too: the struct is copied to the kernel as bytes
  r.data = snp_report_req(field64, vmpl);
  r.certs_address = certs_address;
  r.certs_len = certs_len;
  return r;
}

SnpGuestRequestIoctl snp_guest_request(const void* req, void* resp) {
  SnpGuestRequestIoctl g;
  std::memset(&g, 0, sizeof g);
  g.msg_version = 1;  // the driver refuses 0
  g.req_data = reinterpret_cast<uintptr_t>(req);
  g.resp_data = reinterpret_cast<uintptr_t>(resp);
  return g;
}

std::string snp_exitinfo2_text(uint64_t exitinfo2) {
  uint32_t fw = static_cast<uint32_t>(exitinfo2 & 0xffffffffu);
  uint32_t vmm = static_cast<uint32_t>(exitinfo2 >> 32);
  std::string out;
  if (fw) out = "firmware error " + hex32(fw);
  if (vmm) {
    if (!out.empty()) out += ", ";
    out += "VMM error " + hex32(vmm);
    if (vmm == kSnpVmmErrInvalidLen) out += " (certificate buffer too small)";
    if (vmm == kSnpVmmErrBusy) out += " (host busy)";
  }
  return out;
}

Result<std::string> snp_report_from_response(std::string_view resp, std::string_view ioctl_name) {
  std::string where = "sev-guest: " + std::string(ioctl_name) + ": ";
  if (resp.size() < 32) return fail(where + "response too short");
  uint32_t status = le32(resp, 0), size = le32(resp, 4);
  if (status != 0) return fail(where + "firmware status " + hex32(status));
  if (size != kSnpReportSize)
    return fail(where + "report is " + std::to_string(size) + " bytes, expected " +
                std::to_string(kSnpReportSize));
  if (32 + size > resp.size()) return fail(where + "report larger than the response");
  return std::string(resp.substr(32, size));
}

Result<SnpGuestReport> sev_guest_report(const std::string& device, std::string_view field64,
                                        uint32_t vmpl) {
  Fd fd(::open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return fail_errno("sev-guest: open " + device);
  SnpReportResp resp;
  std::string certs(kSnpCertsBufferSize, '\0');
  auto ext = snp_ext_report_req(field64, vmpl, reinterpret_cast<uintptr_t>(certs.data()),
                                static_cast<uint32_t>(certs.size()));
  auto call = [&](unsigned long cmd, const void* req, const char* name) -> Result<std::string> {
    std::memset(&resp, 0, sizeof resp);
    auto g = snp_guest_request(req, &resp);
    int rc;
    do {
      rc = ::ioctl(fd.get(), cmd, &g);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int e = errno;
      std::string detail = snp_exitinfo2_text(g.exitinfo2);
      return fail(std::string("sev-guest: ") + name + ": " +
                      (detail.empty() ? std::string(std::strerror(e)) : detail),
                  detail.empty() ? e : 0);
    }
    return snp_report_from_response(
        std::string_view(reinterpret_cast<const char*>(resp.data), sizeof resp.data), name);
  };
  auto r = call(kSnpGetExtReport, &ext, "SNP_GET_EXT_REPORT");
  if (r) return SnpGuestReport{*r, certs, "SNP_GET_EXT_REPORT"};
  // Hosts without extended guest requests (or certificates too large for the buffer): the report
  // alone; the verifier then fetches the VCEK itself.
  auto plain_req = snp_report_req(field64, vmpl);
  auto plain = call(kSnpGetReport, &plain_req, "SNP_GET_REPORT");
  if (!plain) return fail(r.error().str() + "; " + plain.error().str());
  return SnpGuestReport{*plain, "", "SNP_GET_REPORT"};
}

}  // namespace veil::attest::tsm
