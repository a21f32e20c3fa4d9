// spec: write a default config.json; features: what this veil supports (runc's JSON shape).
#include <fcntl.h>
#include <sys/capability.h>
#include <unistd.h>

#include <memory>

#include "base/file.hpp"
#include "cli/commands.hpp"
#include "linux/credentials.hpp"
#include "oci/spec.hpp"

namespace veil::cli {

void add_spec(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("spec", "write a default config.json into the bundle");
  auto bundle = std::make_shared<std::string>(".");
  auto rootless = std::make_shared<bool>(false);
  cmd->add_option("-b,--bundle", *bundle, "bundle directory (default: .)");
  cmd->add_flag("--rootless", *rootless, "a config for an unprivileged user");
  cmd->callback([&ctx, bundle, rootless] {
    ctx.action = [bundle, rootless]() -> Result<int> {
      std::string path = *bundle + "/config.json";
      if (path_exists(path)) return fail("File " + path + " exists. Remove it first");
      auto j = oci::default_spec(*rootless, ::getuid(), ::getgid());
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) return fail_errno("create " + path);
      ::close(fd);
      VEIL_CHECK(write_file(path, j.dump(1, '\t') + "\n"));
      return 0;
    };
  });
}

void add_features(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("features", "print what this runtime supports (JSON)");
  cmd->callback([&ctx] {
    ctx.action = []() -> Result<int> {
      nlohmann::json caps = nlohmann::json::array();
      for (int c = 0; c <= credentials::last_cap(); ++c) {
        char* name = cap_to_name(static_cast<cap_value_t>(c));
        if (!name) continue;
        std::string n = name;
        cap_free(name);
        for (auto& ch : n) ch = static_cast<char>(toupper(ch));
        if (n.starts_with("CAP_")) caps.push_back(n);
      }
      nlohmann::json j = {
          {"ociVersionMin", "1.0.0"},
          {"ociVersionMax", "1.2.0"},
          {"hooks", nlohmann::json::array()},
          {"mountOptions",
           {"async",          "atime",      "bind",         "defaults",    "dev",
            "diratime",       "dirsync",    "exec",         "iversion",    "lazytime",
            "loud",           "mand",       "noatime",      "nodev",       "nodiratime",
            "noexec",         "noiversion", "nolazytime",   "nomand",      "norelatime",
            "nostrictatime",  "nosuid",     "private",      "ratime",      "rbind",
            "rdev",           "rdiratime",  "relatime",     "remount",     "rexec",
            "rnoatime",       "rnodev",     "rnodiratime",  "rnoexec",     "rnorelatime",
            "rnostrictatime", "rnosuid",    "rnosymfollow", "ro",          "rprivate",
            "rrelatime",      "rro",        "rrw",          "rshared",     "rslave",
            "rstrictatime",   "rsuid",      "rsymfollow",   "runbindable", "rw",
            "shared",         "silent",     "slave",        "strictatime", "suid",
            "sync",           "tmpcopyup",  "unbindable"}},
          {"linux",
           {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
            {"capabilities", caps},
            {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
            {"seccomp", {{"enabled", false}}},
            {"apparmor", {{"enabled", false}}},
            {"selinux", {{"enabled", false}}},
            {"intelRdt", {{"enabled", false}}}}},
          {"annotations", {{"org.veil.version", VEIL_VERSION}}}};
      print(j.dump(4) + "\n");
      return 0;
    };
  });
}

}  // namespace veil::cli
