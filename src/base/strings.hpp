// String helpers for the runtime's hot path. The veil binary avoids iostreams and libfmt: both
// initialise std::locale, which costs 430–770 KiB of resident memory in a static binary
// (measured; see docs/architecture.md), and the runtime's RSS budget is 2.5 MiB.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace veil {

// printf-style formatting into a std::string (checked by the compiler like printf).
std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Splits on sep; keeps empty fields ("a::b" → {"a", "", "b"}); "" → {}.
std::vector<std::string> split(std::string_view s, char sep);
// Splits on runs of blanks (spaces, tabs); no empty fields.
std::vector<std::string> split_words(std::string_view s);
// The parts with sep between them.
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// Lower-case hex of the bytes, and back (nullopt for odd lengths or non-hex digits).
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace veil
