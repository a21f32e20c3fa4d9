// The org.veil.secrets annotation and the kbs:/// resource URIs in it.
#include <string>

#include "common.hpp"
#include "kbs/agent/secrets_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string t(veil::fuzz::text(data, size));
  (void)veil::agent::parse_secrets_annotation(t);
  (void)veil::agent::parse_secret_uri(t, true);
  return 0;
}
