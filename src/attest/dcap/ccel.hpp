// The TDX CC event log (the log area of the CCEL ACPI table, what /sys/firmware/acpi/tables/data/
// CCEL holds): TCG PC Client crypto-agile format. The first record is a TCG_PCR_EVENT (SHA-1
// layout) of type EV_NO_ACTION whose data is the "Spec ID Event03" structure listing the digest
// algorithms and sizes; then TCG_PCR_EVENT2 records:
//   MR index u32, event type u32, digest count u32, count × (algorithm u16, digest), size u32, data
// all little-endian. The log ends at the end of the bytes or where the next 8 bytes are all 0x00
// or all 0xFF (the table's padding). MR index 1..4 are RTMR0..3 (UEFI CC measurement register
// mapping for TDX; 0 is MRTD, which the log cannot replay); EV_NO_ACTION records extend nothing.
// Replay: RTMR = SHA-384(RTMR || event's SHA-384 digest), from 48 zero bytes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace veil::attest::dcap {

inline constexpr uint32_t kEvNoAction = 3;
inline constexpr size_t kMaxCcel = 16 << 20;

struct CcelEvent {
  uint32_t mr_index = 0;
  uint32_t type = 0;
  std::string sha384;  // 48 bytes
  size_t data_size = 0;
};

struct Ccel {
  std::vector<CcelEvent> events;    // the TCG_PCR_EVENT2 records (not the Spec ID event)
  std::array<std::string, 4> rtmr;  // replayed RTMR0..3, 48 bytes each
  size_t length = 0;                // bytes up to the end marker
};

// Parses and replays; errors start with "ccel: ".
Result<Ccel> replay_ccel(std::string_view log);
// The same for a file (e.g. a copy of /sys/firmware/acpi/tables/data/CCEL).
Result<Ccel> replay_ccel_file(const std::string& path);

}  // namespace veil::attest::dcap
