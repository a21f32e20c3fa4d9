#include "attest/tsm/tdx_guest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "attest/bytes.hpp"
#include "base/fd.hpp"

namespace veil::attest::tsm {
namespace {

constexpr size_t kQgsHeaderSize = 16;
constexpr const char* kWhere = "tdx-guest: TDX_CMD_GET_QUOTE: ";

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

void put_be32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t get_be32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

}  // namespace

TdxReportReq tdx_report_req(std::string_view field64) {
  TdxReportReq r;
  std::memset(&r, 0, sizeof r);
  std::memcpy(r.reportdata, field64.data(), std::min<size_t>(field64.size(), 64));
  return r;
}

std::string tdx_quote_buffer(std::string_view tdreport, size_t buffer_size) {
  const uint32_t msg_size = kQgsHeaderSize + 8 + static_cast<uint32_t>(tdreport.size());
  std::string b;
  put_le(b, 1, 8);                // version
  put_le(b, 0, 8);                // status
  put_le(b, 4 + msg_size, 4);     // in_len
  put_le(b, 0, 4);                // out_len
  put_be32(b, msg_size);          // the QGS message's length, big-endian
  put_le(b, 1, 2);                // QGS major version
  put_le(b, 0, 2);                // minor version
  put_le(b, kQgsGetQuoteReq, 4);  // type
  put_le(b, msg_size, 4);         // size, header included
  put_le(b, 0, 4);                // error_code
  put_le(b, tdreport.size(), 4);  // report_size
  put_le(b, 0, 4);                // id_list_size
  b.append(tdreport);
  if (b.size() < buffer_size) b.resize(buffer_size, '\0');
  return b;
}

TdxQuoteReq tdx_quote_req(void* buffer, size_t len) {
  return TdxQuoteReq{reinterpret_cast<uintptr_t>(buffer), len};
}

Result<std::string> tdx_quote_from_buffer(std::string_view b) {
  std::string w = kWhere;
  if (b.size() < sizeof(TdxQuoteHdr)) return fail(w + "buffer too short");
  uint64_t status = le(b, 8, 8);
  if (status == kGetQuoteInFlight) return fail(w + "the host has not finished the quote");
  if (status == kGetQuoteServiceUnavailable)
    return fail(w + "the host's quote generation service (QGS) is unavailable");
  if (status != kGetQuoteSuccess) return fail(w + "GetQuote failed, status " + hex64(status));
  uint64_t out_len = le(b, 20, 4);
  std::string_view data = b.substr(sizeof(TdxQuoteHdr));
  if (out_len > data.size())
    return fail(w + "out_len " + std::to_string(out_len) + " exceeds the buffer");
  data = data.substr(0, out_len);
  if (data.size() < 4 + kQgsHeaderSize + 8) return fail(w + "answer too short for a QGS message");
  uint32_t msg_size = get_be32(data, 0);
  if (msg_size != data.size() - 4)
    return fail(w + "QGS message length " + std::to_string(msg_size) + " but " +
                std::to_string(data.size() - 4) + " bytes returned");
  std::string_view m = data.substr(4);
  uint64_t major = le(m, 0, 2), type = le(m, 4, 4), size = le(m, 8, 4), err = le(m, 12, 4);
  if (major != 1) return fail(w + "QGS message version " + std::to_string(major) + " is not 1");
  if (type != kQgsGetQuoteResp) return fail(w + "QGS message type " + std::to_string(type));
  if (size != m.size()) return fail(w + "QGS message size field disagrees with its length");
  if (err != 0) return fail(w + "QGS error " + hex64(err));
  uint64_t id_size = le(m, 16, 4), quote_size = le(m, 20, 4);
  if (quote_size == 0) return fail(w + "QGS returned an empty quote");
  if (kQgsHeaderSize + 8 + id_size + quote_size > m.size())
    return fail(w + "QGS quote runs past the message");
  return std::string(m.substr(kQgsHeaderSize + 8 + id_size, quote_size));
}

Result<std::string> tdx_guest_quote(const std::string& device, std::string_view field64) {
  Fd fd(::open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return fail_errno("tdx-guest: open " + device);
  auto rep = tdx_report_req(field64);
  int rc;
  do {
    rc = ::ioctl(fd.get(), kTdxCmdGetReport0, &rep);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return fail_errno("tdx-guest: TDX_CMD_GET_REPORT0");
  std::string init = tdx_quote_buffer(
      std::string_view(reinterpret_cast<const char*>(rep.tdreport), kTdReportSize));
  // Page-aligned: the driver shares it with the VMM.
  std::unique_ptr<char, decltype(&std::free)> buf(
      static_cast<char*>(std::aligned_alloc(4096, kTdxQuoteBufferSize)), &std::free);
  if (!buf) return fail("tdx-guest: out of memory");
  std::memcpy(buf.get(), init.data(), kTdxQuoteBufferSize);
  auto req = tdx_quote_req(buf.get(), kTdxQuoteBufferSize);
  int err = ENOTTY;
  for (unsigned long cmd : kTdxCmdGetQuoteCandidates) {
    // The kernel waits for the VMM inside the ioctl; veil neither polls nor sleeps.
    do {
      rc = ::ioctl(fd.get(), cmd, &req);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return tdx_quote_from_buffer(std::string_view(buf.get(), kTdxQuoteBufferSize));
    err = errno;
    if (err != ENOTTY) break;
  }
  if (err == ENOTTY)
    return fail(
        "tdx-guest: TDX_CMD_GET_QUOTE: this kernel has no quote ioctl (mainline "
        "kernels before 6.7 only give a TDREPORT, which cannot be verified remotely; "
        "use Linux 6.7+ with configfs-tsm)");
  return fail("tdx-guest: TDX_CMD_GET_QUOTE", err);
}

}  // namespace veil::attest::tsm
