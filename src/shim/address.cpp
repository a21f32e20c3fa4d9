#include "shim/address.hpp"

#include <openssl/evp.h>

#include "base/strings.hpp"

namespace veil::shim {

std::string group_of(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("annotations") || !config["annotations"].is_object())
    return "";
  for (const char* k : {"io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"}) {
    const auto& a = config["annotations"];
    if (a.contains(k) && a[k].is_string() && !a[k].get<std::string>().empty())
      return a[k].get<std::string>();
  }
  return "";
}

std::string socket_address(const std::string& containerd_address, const std::string& ns,
                           const std::string& group) {
  std::string in = containerd_address + "/" + ns + "/" + group;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr);
  return std::string("unix://") + kSocketDir + "/" +
         to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace veil::shim
