// The SEV-SNP certificate table: what configfs-tsm's auxblob holds for provider "sev_guest" and
// what SNP_GET_EXT_REPORT writes to its certificate buffer ("cert_table" in the SEV-ES GHCB
// specification (AMD 56421) v2, section 4.1.8.1 MSG_REPORT_REQ).
//
// Layout: entries of 24 bytes { GUID (16 bytes, in the byte order of its text form, as libuuid
// and virtee/sev store it), offset u32 LE, length u32 LE }, ended by an all-zero entry. Offsets
// count from the start of the table; the certificates (DER) follow the entries. The buffer is
// usually padded to whole pages, so trailing bytes are allowed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace veil::attest::tsm {

inline constexpr const char* kVcekGuid = "63da758d-e664-4564-adc5-f4b93be8accd";
inline constexpr const char* kVlekGuid = "a8074bc2-a25a-483e-aae6-39c045a0b8a1";
inline constexpr const char* kAskGuid = "4ab7b379-bbac-4fe4-a02f-05aef327c782";
inline constexpr const char* kArkGuid = "c0b406a4-a803-4952-9743-3fb6014cd0ae";

struct CertEntry {
  std::string guid;  // lower-case text form
  std::string der;   // the certificate bytes
};

inline constexpr size_t kCertEntrySize = 24;

// Checks every entry: a terminator before the end of the buffer, each certificate non-empty,
// inside the buffer, after the entries, not overlapping another one, no GUID twice. Errors
// start with "certificate table: ".
Result<std::vector<CertEntry>> parse_cert_table(std::string_view table);

// The table bytes for `entries` (certificates placed after the terminator, in order), padded with
// zeros to `pad_to` bytes if that is larger. For tests and the fuzzer's seeds.
std::string build_cert_table(const std::vector<CertEntry>& entries, size_t pad_to = 0);

// 16 bytes <-> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string guid_text(std::string_view bytes16);
Result<std::string> guid_bytes(std::string_view text);

}  // namespace veil::attest::tsm
