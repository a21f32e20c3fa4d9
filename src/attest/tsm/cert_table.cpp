#include "attest/tsm/cert_table.hpp"

#include <algorithm>
#include <cstdint>
#include <set>

#include "attest/bytes.hpp"
#include "attest/crypto.hpp"

namespace veil::attest::tsm {
namespace {

uint32_t le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(veil::attest::le(b, at, 4));
}

}  // namespace

std::string guid_text(std::string_view b) {
  std::string h = crypto::hex(b.substr(0, 16));
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

Result<std::string> guid_bytes(std::string_view text) {
  std::string h;
  for (char c : text)
    if (c != '-') h.push_back(c);
  auto b = crypto::unhex(h);
  if (!b || b->size() != 16 || text.size() != 36) return fail("not a GUID: " + std::string(text));
  return *b;
}

Result<std::vector<CertEntry>> parse_cert_table(std::string_view t) {
  struct Raw {
    std::string guid;
    uint64_t off, len;
  };
  std::vector<Raw> raw;
  size_t at = 0;
  for (;; at += kCertEntrySize) {
    if (at + kCertEntrySize > t.size())
      return fail("certificate table: no terminator entry within " + std::to_string(t.size()) +
                  " bytes");
    std::string_view e = t.substr(at, kCertEntrySize);
    if (std::all_of(e.begin(), e.begin() + 16, [](char c) { return c == 0; })) {
      if (le32(e, 16) != 0 || le32(e, 20) != 0)
        return fail("certificate table: entry " + std::to_string(raw.size()) +
                    " has a zero GUID but an offset or length");
      break;
    }
    raw.push_back({guid_text(e.substr(0, 16)), le32(e, 16), le32(e, 20)});
  }
  const uint64_t table_end = at + kCertEntrySize;
  std::vector<CertEntry> out;
  std::set<std::string> seen;
  auto which = [&](size_t i) {
    return "certificate table: entry " + std::to_string(i) + " (" + raw[i].guid + ")";
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto& r = raw[i];
    if (r.len == 0) return fail(which(i) + ": empty certificate");
    if (r.off + r.len > t.size())
      return fail(which(i) + ": bytes " + std::to_string(r.off) + ".." +
                  std::to_string(r.off + r.len) + " are past the end (" + std::to_string(t.size()) +
                  " bytes)");
    if (r.off < table_end)
      return fail(which(i) + ": offset " + std::to_string(r.off) + " overlaps the entries (" +
                  std::to_string(table_end) + " bytes)");
    if (!seen.insert(r.guid).second) return fail(which(i) + ": GUID listed twice");
    out.push_back({r.guid, std::string(t.substr(r.off, r.len))});
  }
  // Overlaps: neighbours in offset order (n log n, the table may hold a thousand entries).
  std::vector<size_t> by_off(raw.size());
  for (size_t i = 0; i < by_off.size(); ++i) by_off[i] = i;
  std::sort(by_off.begin(), by_off.end(), [&](size_t a, size_t b) {
    return raw[a].off != raw[b].off ? raw[a].off < raw[b].off : a < b;
  });
  for (size_t k = 1; k < by_off.size(); ++k) {
    size_t prev = by_off[k - 1], cur = by_off[k];
    if (raw[cur].off < raw[prev].off + raw[prev].len) {
      size_t later = std::max(prev, cur), earlier = std::min(prev, cur);
      return fail(which(later) + ": overlaps entry " + std::to_string(earlier) + " (" +
                  raw[earlier].guid + ")");
    }
  }
  return out;
}

std::string build_cert_table(const std::vector<CertEntry>& entries, size_t pad_to) {
  std::string head, body;
  size_t off = (entries.size() + 1) * kCertEntrySize;
  for (const auto& e : entries) {
    auto g = guid_bytes(e.guid);
    head += g ? *g : std::string(16, '\0');
    put_le(head, static_cast<uint32_t>(off + body.size()), 4);
    put_le(head, static_cast<uint32_t>(e.der.size()), 4);
    body += e.der;
  }
  head.append(kCertEntrySize, '\0');
  std::string out = head + body;
  if (out.size() < pad_to) out.resize(pad_to, '\0');
  return out;
}

}  // namespace veil::attest::tsm
