// The org.veil.secrets annotation: which KBS resources a container receives in /run/secrets.
//   "org.veil.secrets": "kbs:///prod/db/password,kbs:///prod/tls/server.key"
// A comma-separated list (spaces around items are ignored) of kbs:///<repository>/<type>/<tag>
// URIs; the host part must be empty (the KBS is kbs.url of veil's config). Each segment is
// [A-Za-z0-9._-]+ and not "." or "..". The file is /run/secrets/<tag>, so tags must be unique.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::agent {

inline constexpr const char* kSecretsAnnotation = "org.veil.secrets";

struct SecretRef {
  std::string path;  // "<repository>/<type>/<tag>", as the KBS resource API names it
  std::string tag;   // the file name in /run/secrets
};

// One resource: "kbs:///repo/type/tag", or also "repo/type/tag" with allow_bare_path.
Result<SecretRef> parse_secret_uri(const std::string& uri, bool allow_bare_path = false);
// The annotation's value; errors name the annotation and the offending item.
Result<std::vector<SecretRef>> parse_secrets_annotation(const std::string& value);

}  // namespace veil::agent
