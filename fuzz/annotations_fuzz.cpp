// The org.veil.secrets annotation and the kbs:/// resource URIs in it (every accepted item names
// a file under /run/secrets that cannot leave it), and the guard's mode names.
#include <string>

#include "common.hpp"
#include "guard/spec.hpp"
#include "kbs/agent/secrets_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string t(veil::fuzz::text(data, size));
  if (auto refs = veil::agent::parse_secrets_annotation(t))
    for (const auto& r : *refs)
      if (r.tag.empty() || r.tag == "." || r.tag == ".." || r.tag.find('/') != std::string::npos)
        __builtin_trap();
  (void)veil::agent::parse_secret_uri(t, true);
  (void)veil::guard::parse_mode(t);
  return 0;
}
