#include "attest/dcap/ccel.hpp"

#include <algorithm>
#include <map>

#include "attest/bytes.hpp"
#include "attest/x509.hpp"
#include "base/file.hpp"

namespace veil::attest::dcap {
namespace {

constexpr uint16_t kSha384 = 0x000c;
constexpr std::string_view kSpecId("Spec ID Event03\0", 16);

uint32_t le(std::string_view b, size_t at, int n) {
  return static_cast<uint32_t>(veil::attest::le(b, at, n));
}

bool all_of(std::string_view b, char c) {
  return b.find_first_not_of(c) == std::string_view::npos;
}

}  // namespace

Result<Ccel> replay_ccel(std::string_view log) {
  if (log.size() > kMaxCcel) return fail("ccel: the log is larger than 16 MiB");
  auto need = [&](size_t at, size_t n, const std::string& what) -> Result<> {
    if (n > log.size() || at > log.size() - n)
      return fail("ccel: truncated in " + what + " at offset " + std::to_string(at));
    return {};
  };

  // TCG_PCR_EVENT: PCR index, type, SHA-1 digest (20), size, TCG_EfiSpecIdEvent.
  VEIL_CHECK(need(0, 32, "the Spec ID event"));
  if (le(log, 0, 4) != 0 || le(log, 4, 4) != kEvNoAction)
    return fail("ccel: the first event is not the Spec ID event (EV_NO_ACTION, index 0)");
  size_t spec_size = le(log, 28, 4);
  VEIL_CHECK(need(32, spec_size, "the Spec ID event"));
  std::string_view spec = log.substr(32, spec_size);
  if (spec.size() < 29 || spec.substr(0, 16) != kSpecId)
    return fail("ccel: the first event is not a \"Spec ID Event03\" (crypto-agile log)");
  // signature (16), platform class u32, version minor/major/errata u8, uintn size u8, then:
  uint32_t algs = le(spec, 24, 4);
  if (algs == 0 || algs > 16 || spec.size() < 28 + 4 * static_cast<size_t>(algs) + 1)
    return fail("ccel: bad algorithm list in the Spec ID event");
  std::map<uint16_t, uint16_t> sizes;
  for (uint32_t i = 0; i < algs; i++) {
    uint16_t id = static_cast<uint16_t>(le(spec, 28 + 4 * i, 2));
    uint16_t size = static_cast<uint16_t>(le(spec, 30 + 4 * i, 2));
    if (size == 0 || size > 64 || !sizes.emplace(id, size).second)
      return fail("ccel: bad algorithm list in the Spec ID event");
  }
  size_t vendor = static_cast<uint8_t>(spec[28 + 4 * algs]);
  if (28 + 4 * algs + 1 + vendor != spec.size())
    return fail("ccel: the Spec ID event's size does not match its contents");
  if (!sizes.contains(kSha384) || sizes[kSha384] != 48)
    return fail("ccel: the log does not carry SHA-384 digests");

  Ccel out;
  for (auto& r : out.rtmr) r.assign(48, '\0');
  size_t at = 32 + spec_size;
  while (at < log.size()) {
    std::string_view head = log.substr(at, 8);
    if (all_of(head, '\0') || all_of(head, '\xff')) break;
    std::string n = "event " + std::to_string(out.events.size() + 1);
    VEIL_CHECK(need(at, 12, n));
    CcelEvent e;
    e.mr_index = le(log, at, 4);
    e.type = le(log, at + 4, 4);
    uint32_t count = le(log, at + 8, 4);
    if (count == 0 || count > algs) return fail("ccel: " + n + " has a bad digest count");
    at += 12;
    bool have_sha384 = false;
    for (uint32_t i = 0; i < count; i++) {
      VEIL_CHECK(need(at, 2, n));
      uint16_t id = static_cast<uint16_t>(le(log, at, 2));
      auto it = sizes.find(id);
      if (it == sizes.end())
        return fail("ccel: " + n + " uses a digest algorithm the Spec ID event does not list");
      VEIL_CHECK(need(at + 2, it->second, n));
      if (id == kSha384) {
        if (have_sha384) return fail("ccel: " + n + " has two SHA-384 digests");
        have_sha384 = true;
        e.sha384 = log.substr(at + 2, 48);
      }
      at += 2 + it->second;
    }
    if (!have_sha384) return fail("ccel: " + n + " has no SHA-384 digest");
    VEIL_CHECK(need(at, 4, n));
    e.data_size = le(log, at, 4);
    VEIL_CHECK(need(at + 4, e.data_size, n + " data"));
    at += 4 + e.data_size;
    if (e.mr_index > 4)
      return fail("ccel: " + n + " targets MR index " + std::to_string(e.mr_index) +
                  " (TDX has 0..4)");
    if (e.mr_index >= 1 && e.type != kEvNoAction) {
      std::string& r = out.rtmr[e.mr_index - 1];
      r = x509::sha384(r + e.sha384);
    }
    out.events.push_back(std::move(e));
  }
  out.length = std::min(at, log.size());
  return out;
}

Result<Ccel> replay_ccel_file(const std::string& path) {
  auto log = read_file(path, kMaxCcel);
  if (!log) return fail("ccel: " + log.error().str());
  return replay_ccel(*log);
}

}  // namespace veil::attest::dcap
