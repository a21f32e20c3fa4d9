#include "attest/dcap/quote.hpp"

#include <cstdio>

#include "attest/bytes.hpp"

namespace veil::attest::dcap {
namespace {

// Reads little-endian fields from untrusted bytes; every read is bounds-checked and names what
// it was reading when the bytes ran out.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  size_t pos() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }
  Result<std::string_view> take(size_t n, const char* what) {
    if (n > left())
      return fail("quote: truncated in " + std::string(what) + " (needs " + std::to_string(n) +
                  " bytes at offset " + std::to_string(pos_) + ", " + std::to_string(left()) +
                  " left)");
    auto out = b_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  Result<uint32_t> le(size_t n, const char* what) {
    auto bytes = VEIL_TRY(take(n, what));
    return static_cast<uint32_t>(veil::attest::le(bytes, 0, static_cast<int>(n)));
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

uint16_t le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(veil::attest::le(b, at, 2));
}

// The QE report, its signature, the QE auth data and the type-5 PCK chain: all of `r`.
Result<> parse_qe_certification(Reader& r, Quote& q) {
  q.qe_report = parse_enclave_report(VEIL_TRY(r.take(kEnclaveReportSize, "QE report")));
  q.qe_report_signature = VEIL_TRY(r.take(64, "QE report signature"));
  uint32_t auth_size = VEIL_TRY(r.le(2, "QE auth data size"));
  q.qe_auth_data = VEIL_TRY(r.take(auth_size, "QE auth data"));
  uint32_t type = VEIL_TRY(r.le(2, "certification data type"));
  if (type != 5)
    return fail("quote: certification data type " + std::to_string(type) +
                " is not supported (5: PCK certificate chain)");
  uint32_t size = VEIL_TRY(r.le(4, "certification data size"));
  q.pck_chain = VEIL_TRY(r.take(size, "PCK certificate chain"));
  if (r.left() != 0)
    return fail("quote: " + std::to_string(r.left()) + " stray bytes after the PCK chain");
  return {};
}

}  // namespace

EnclaveReport parse_enclave_report(std::string_view b) {
  EnclaveReport e;
  e.raw = b;
  e.cpu_svn = b.substr(0, 16);
  e.misc_select = b.substr(16, 4);
  e.attributes = b.substr(48, 16);
  e.mr_enclave = b.substr(64, 32);
  e.mr_signer = b.substr(128, 32);
  e.isv_prod_id = le16(b, 256);
  e.isv_svn = le16(b, 258);
  e.report_data = b.substr(320, 64);
  return e;
}

TdReport parse_td_report(std::string_view b) {
  TdReport t;
  t.raw = b;
  t.tee_tcb_svn = b.substr(0, 16);
  t.mr_seam = b.substr(16, 48);
  t.mr_signer_seam = b.substr(64, 48);
  t.seam_attributes = b.substr(112, 8);
  t.td_attributes = b.substr(120, 8);
  t.xfam = b.substr(128, 8);
  t.mr_td = b.substr(136, 48);
  t.mr_config_id = b.substr(184, 48);
  t.mr_owner = b.substr(232, 48);
  t.mr_owner_config = b.substr(280, 48);
  for (size_t i = 0; i < 4; i++) t.rtmr[i] = b.substr(328 + 48 * i, 48);
  t.report_data = b.substr(520, 64);
  if (b.size() >= kTdReport15Size) {
    t.tee_tcb_svn2 = b.substr(584, 16);
    t.mr_servicetd = b.substr(600, 48);
  }
  return t;
}

Result<Quote> parse_quote(std::string_view bytes) {
  if (bytes.size() > kMaxQuoteSize)
    return fail("quote: " + std::to_string(bytes.size()) + " bytes is more than the " +
                std::to_string(kMaxQuoteSize) + " accepted");
  Reader r(bytes);
  Quote q;
  q.header = VEIL_TRY(r.take(kHeaderSize, "header"));
  q.version = le16(q.header, 0);
  uint16_t att_key_type = le16(q.header, 2);
  q.tee_type = static_cast<uint32_t>(le16(q.header, 4)) | static_cast<uint32_t>(le16(q.header, 6))
                                                              << 16;
  if (att_key_type != kAttKeyEcdsaP256)
    return fail("quote: attestation key type " + std::to_string(att_key_type) +
                " is not supported (2: ECDSA P-256)");
  if (q.header.substr(12, 16) != kIntelQeVendorId)
    return fail("quote: the QE vendor ID is not Intel's");

  size_t body_size = 0;
  if (q.version == 3 && q.tee_type == kTeeSgx) {
    q.body_type = kBodySgx;
    body_size = kEnclaveReportSize;
  } else if (q.version == 4 && q.tee_type == kTeeTdx) {
    q.body_type = kBodyTd10;
    body_size = kTdReport10Size;
  } else if (q.version == 5 && q.tee_type == kTeeTdx) {
    q.body_type = static_cast<uint16_t>(VEIL_TRY(r.le(2, "body type")));
    uint32_t declared = VEIL_TRY(r.le(4, "body size"));
    if (q.body_type == kBodyTd10)
      body_size = kTdReport10Size;
    else if (q.body_type == kBodyTd15)
      body_size = kTdReport15Size;
    else
      return fail("quote: v5 body type " + std::to_string(q.body_type) +
                  " is not a TD report (2: TD report 1.0, 3: TD report 1.5)");
    if (declared != body_size)
      return fail("quote: v5 body size " + std::to_string(declared) + " does not match type " +
                  std::to_string(q.body_type) + " (" + std::to_string(body_size) + " bytes)");
  } else {
    char tee[16];
    snprintf(tee, sizeof tee, "0x%x", q.tee_type);
    return fail("quote: version " + std::to_string(q.version) + " with TEE type " + tee +
                " is not supported (3: SGX, 4 and 5: TDX)");
  }
  auto body = VEIL_TRY(r.take(body_size, "body"));
  q.signed_part = bytes.substr(0, r.pos());
  if (q.body_type == kBodySgx)
    q.enclave = parse_enclave_report(body);
  else
    q.td = parse_td_report(body);

  uint32_t sig_size = VEIL_TRY(r.le(4, "signature data size"));
  Reader s(VEIL_TRY(r.take(sig_size, "signature data")));
  q.length = r.pos();
  q.signature = VEIL_TRY(s.take(64, "quote signature"));
  q.attest_key = VEIL_TRY(s.take(64, "attestation key"));
  if (q.version == 3) {
    VEIL_CHECK(parse_qe_certification(s, q));
  } else {
    uint32_t type = VEIL_TRY(s.le(2, "certification data type"));
    if (type != 6)
      return fail("quote: certification data type " + std::to_string(type) +
                  " is not supported (6: QE report certification data)");
    uint32_t size = VEIL_TRY(s.le(4, "certification data size"));
    Reader c(VEIL_TRY(s.take(size, "QE report certification data")));
    VEIL_CHECK(parse_qe_certification(c, q));
    if (s.left() != 0)
      return fail("quote: " + std::to_string(s.left()) +
                  " stray bytes after the QE report certification data");
  }
  auto rest = bytes.substr(q.length);
  if (rest.find_first_not_of('\0') != std::string_view::npos)
    return fail("quote: " + std::to_string(rest.size()) +
                " trailing bytes after the quote that are not zero padding");
  return q;
}

}  // namespace veil::attest::dcap
