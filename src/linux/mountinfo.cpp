#include "linux/mountinfo.hpp"

#include "base/strings.hpp"


namespace veil::mountinfo {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

bool Entry::has_option(const std::string& opt) const {
  return ("," + options + ",").find("," + opt + ",") != std::string::npos;
}

std::vector<Entry> parse(const std::string& text) {
  std::vector<Entry> out;
  for (const auto& line : split(text, '\n')) {
    std::vector<std::string> fields;
    for (auto& f : split(line, ' '))
      if (!f.empty()) fields.push_back(std::move(f));
    size_t dash = 0;
    for (size_t i = 6; i < fields.size(); ++i)
      if (fields[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || dash + 2 >= fields.size()) continue;
    Entry e;
    e.dev = fields[2];
    e.root = unescape(fields[3]);
    e.mountpoint = unescape(fields[4]);
    e.options = fields[5];
    e.fstype = fields[dash + 1];
    e.source = unescape(fields[dash + 2]);
    if (dash + 3 < fields.size()) e.super_options = fields[dash + 3];
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace veil::mountinfo
