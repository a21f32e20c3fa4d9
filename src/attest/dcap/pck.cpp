#include "attest/dcap/pck.hpp"

#include <optional>
#include <vector>

namespace veil::attest::dcap {
namespace {

// The DER content bytes of OID 1.2.840.113741.1.13.1; its children append one byte (.N, N < 128)
// and the TCB components two (.2.N).
constexpr std::string_view kSgxOid = "\x2a\x86\x48\x86\xf8\x4d\x01\x0d\x01";

struct Tlv {
  uint8_t tag = 0;
  std::string_view value;
};

// One DER TLV from the front of `b` (single-byte tags, definite lengths up to 4 bytes).
Result<Tlv> next(std::string_view& b) {
  if (b.size() < 2) return fail("pck-chain: SGX extension: truncated DER");
  Tlv t;
  t.tag = static_cast<uint8_t>(b[0]);
  if ((t.tag & 0x1f) == 0x1f) return fail("pck-chain: SGX extension: multi-byte DER tag");
  size_t len = static_cast<uint8_t>(b[1]);
  size_t at = 2;
  if (len & 0x80) {
    size_t n = len & 0x7f;
    if (n == 0 || n > 4 || b.size() < 2 + n)
      return fail("pck-chain: SGX extension: bad DER length");
    len = 0;
    for (size_t i = 0; i < n; i++) len = len << 8 | static_cast<uint8_t>(b[2 + i]);
    at += n;
  }
  if (len > b.size() - at) return fail("pck-chain: SGX extension: DER value overruns");
  t.value = b.substr(at, len);
  b.remove_prefix(at + len);
  return t;
}

Result<Tlv> expect(std::string_view& b, uint8_t tag, const char* what) {
  auto t = VEIL_TRY(next(b));
  if (t.tag != tag) return fail(std::string("pck-chain: SGX extension: bad DER type for ") + what);
  return t;
}

// A non-negative INTEGER up to 16 bits.
Result<uint16_t> small_int(std::string_view v, const char* what) {
  if (v.empty() || v.size() > 3 || (static_cast<uint8_t>(v[0]) & 0x80) ||
      (v.size() == 3 && v[0] != 0))
    return fail(std::string("pck-chain: SGX extension: ") + what + " is not an integer 0..65535");
  uint32_t x = 0;
  for (char c : v) x = x << 8 | static_cast<uint8_t>(c);
  return static_cast<uint16_t>(x);
}

// The (OID, value) pairs of a SEQUENCE whose OIDs all extend `prefix`: child arc -> value TLV.
Result<std::vector<std::pair<std::string, Tlv>>> pairs(std::string_view seq,
                                                       std::string_view prefix) {
  std::vector<std::pair<std::string, Tlv>> out;
  while (!seq.empty()) {
    auto item = VEIL_TRY(expect(seq, 0x30, "an (OID, value) pair"));
    std::string_view inner = item.value;
    auto oid = VEIL_TRY(expect(inner, 0x06, "an OID"));
    auto value = VEIL_TRY(next(inner));
    if (!inner.empty()) return fail("pck-chain: SGX extension: extra DER in an (OID, value) pair");
    if (oid.value.substr(0, prefix.size()) != prefix) continue;  // not ours: ignored
    out.emplace_back(std::string(oid.value.substr(prefix.size())), value);
  }
  return out;
}

Result<std::string> octets(const Tlv& t, size_t n, const char* what) {
  if (t.tag != 0x04 || t.value.size() != n)
    return fail(std::string("pck-chain: SGX extension: ") + what + " is not " + std::to_string(n) +
                " bytes");
  return std::string(t.value);
}

}  // namespace

Result<PckExtension> parse_pck_extension(std::string_view der) {
  auto top = VEIL_TRY(expect(der, 0x30, "the extension"));
  if (!der.empty()) return fail("pck-chain: SGX extension: trailing bytes");
  PckExtension e;
  bool seen[6] = {};  // .1 .. .5
  for (auto& [arc, v] : VEIL_TRY(pairs(top.value, kSgxOid))) {
    if (arc.size() != 1) continue;
    int n = arc[0];
    if (n >= 1 && n <= 5) {
      if (seen[n]) return fail("pck-chain: SGX extension: field ." + std::to_string(n) + " twice");
      seen[n] = true;
    }
    if (n == 1) {
      e.ppid = VEIL_TRY(octets(v, 16, "PPID"));
    } else if (n == 3) {
      e.pce_id = VEIL_TRY(octets(v, 2, "PCE-ID"));
    } else if (n == 4) {
      e.fmspc = VEIL_TRY(octets(v, 6, "FMSPC"));
    } else if (n == 5) {
      if (v.tag != 0x0a) return fail("pck-chain: SGX extension: SGX type is not ENUMERATED");
      e.sgx_type = VEIL_TRY(small_int(v.value, "SGX type"));
    } else if (n == 2) {
      if (v.tag != 0x30) return fail("pck-chain: SGX extension: TCB is not a SEQUENCE");
      std::string tcb_prefix = std::string(kSgxOid) + '\x02';
      uint32_t got = 0;  // bit i: component i+1 (i < 16), 16: PCESVN, 17: CPUSVN
      for (auto& [sub, c] : VEIL_TRY(pairs(v.value, tcb_prefix))) {
        if (sub.size() != 1 || sub[0] < 1 || sub[0] > 18) continue;
        int k = sub[0];
        if (got & (1u << (k - 1)))
          return fail("pck-chain: SGX extension: TCB field ." + std::to_string(k) + " twice");
        got |= 1u << (k - 1);
        if (k == 18) {
          e.cpu_svn = VEIL_TRY(octets(c, 16, "CPUSVN"));
          continue;
        }
        if (c.tag != 0x02) return fail("pck-chain: SGX extension: a TCB SVN is not an INTEGER");
        uint16_t x = VEIL_TRY(small_int(c.value, "a TCB SVN"));
        if (k == 17) {
          e.pce_svn = x;
        } else {
          if (x > 255) return fail("pck-chain: SGX extension: a TCB component SVN is over 255");
          e.tcb_comp[k - 1] = static_cast<uint8_t>(x);
        }
      }
      if (got != (1u << 18) - 1)
        return fail("pck-chain: SGX extension: TCB lacks some of its 18 fields");
    }
  }
  for (int n : {1, 2, 3, 4})
    if (!seen[n])
      return fail("pck-chain: SGX extension: field 1.2.840.113741.1.13.1." + std::to_string(n) +
                  " missing");
  return e;
}

Result<PckExtension> pck_extension(X509* pck) {
  auto der = x509::extension(pck, kSgxExtensionOid);
  if (!der) return fail("pck-chain: the PCK certificate has no SGX extension");
  return parse_pck_extension(*der);
}

}  // namespace veil::attest::dcap
