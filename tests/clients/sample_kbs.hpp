// A veil-kbs for the client tests (`veil-kbs serve` as a child process, plain HTTP on
// 127.0.0.1, the INSECURE sample backend trusted) with one secret, and the veil config that
// points veil-attest at it. Podman's and containerd's config.json carry per-container paths, so
// the policy accepts any measurement; the measurement itself is tested in tests/secrets.
#pragma once

#include <string>
#include <vector>

#include "client_util.hpp"
#include "process.hpp"  // tests/kbs: KbsProcess

namespace veil::clients {

class SampleKbs {
 public:
  // Returns an empty string on success, else what failed.
  std::string start(const std::string& dir, const std::string& secret_path,
                    const std::string& secret) {
    std::string kbs = VEIL_KBS_BINARY;
    dir_ = dir;
    if (run({"mkdir", "-p", dir}).code != 0) return "mkdir " + dir;
    if (Cmd c = run({kbs, "keygen", "--out", dir + "/admin"}); c.code != 0) return c.describe();
    Cmd sample = run({kbs, "keygen", "--out", dir + "/sample"});
    if (sample.code != 0) return sample.describe();
    write(dir + "/kbs.yaml", "listen: 127.0.0.1:0\nstate_dir: " + dir + "/state\n" +
                                 "admin_public_key: " + dir + "/admin.pub\n" +
                                 "tls: {enabled: false}\nsample_trusted_keys: [" +
                                 sample.out.substr(0, sample.out.find('\n')) + "]\n");
    if (!server_.start(dir + "/kbs.yaml")) return "veil-kbs serve: " + server_.banner;
    write(dir + "/policy.yaml",
          "rules:\n  - resource: 'demo/*/*'\n    tees: [sample]\n    measurements: any\n");
    write(dir + "/secret", secret);
    std::vector<std::string> admin = {kbs,         "admin", "--url",
                                      server_.url, "--key", dir + "/admin.key"};
    for (std::vector<std::string> cmd :
         {std::vector<std::string>{"set-policy", dir + "/policy.yaml"},
          {"set-resource", secret_path, dir + "/secret"}}) {
      auto a = admin;
      a.insert(a.end(), cmd.begin(), cmd.end());
      if (Cmd c = run(a); c.code != 0) return c.describe();
    }
    write(config_path(), "{\"kbs\":{\"url\":\"" + server_.url +
                             "\"},\"attester\":{\"backend\":\"sample\",\"sample_key\":\"" + dir +
                             "/sample.key\"}}");
    return "";
  }
  // The veil config for VEIL_CONFIG.
  std::string config_path() const { return dir_ + "/veil.json"; }

 private:
  std::string dir_;
  kbstest::KbsProcess server_;  // killed when this object goes away
};

}  // namespace veil::clients
