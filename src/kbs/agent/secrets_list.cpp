#include "kbs/agent/secrets_list.hpp"

#include <set>

#include "base/strings.hpp"

namespace veil::agent {
namespace {

bool good_segment(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\n");
  return s.substr(a, b - a + 1);
}

}  // namespace

Result<SecretRef> parse_secret_uri(const std::string& uri, bool allow_bare_path) {
  std::string rest;
  if (uri.starts_with("kbs:///")) {
    rest = uri.substr(7);
  } else if (uri.starts_with("kbs://")) {
    return fail("\"" + uri +
                "\": a KBS host in the URI is not supported; write kbs:///<repository>/<type>/"
                "<tag> (the KBS is kbs.url of veil's config)");
  } else if (allow_bare_path && uri.find("://") == std::string::npos) {
    rest = uri;
  } else {
    return fail("\"" + uri + "\": not a kbs:///<repository>/<type>/<tag> URI");
  }
  auto segs = split(rest, '/');
  if (segs.size() != 3)
    return fail("\"" + uri + "\": expected exactly <repository>/<type>/<tag> after kbs:///");
  for (const auto& s : segs)
    if (!good_segment(s))
      return fail("\"" + uri + "\": segment \"" + s +
                  "\" must be [A-Za-z0-9._-]+ and not \".\" or \"..\"");
  return SecretRef{rest, segs[2]};
}

Result<std::vector<SecretRef>> parse_secrets_annotation(const std::string& value) {
  auto wrap = [](Error e) {
    return std::unexpected(std::move(e).wrap(std::string("annotation ") + kSecretsAnnotation));
  };
  std::vector<SecretRef> out;
  std::set<std::string> tags;
  for (const auto& raw : split(value, ',')) {
    std::string item = trim(raw);
    if (item.empty()) return wrap(Error{"empty item in the list \"" + value + "\""});
    auto ref = parse_secret_uri(item);
    if (!ref) return wrap(ref.error());
    if (!tags.insert(ref->tag).second)
      return wrap(Error{"two resources have the tag \"" + ref->tag +
                        "\" (both would be /run/secrets/" + ref->tag + ")"});
    out.push_back(std::move(*ref));
  }
  if (out.empty()) return wrap(Error{"lists no resources"});
  return out;
}

}  // namespace veil::agent
