// spec: write a default config.json; features: what this veil supports (runc's JSON shape).
#include <fcntl.h>
#include <sys/capability.h>
#include <unistd.h>

#include "base/file.hpp"
#include "cli/commands.hpp"
#include "linux/credentials.hpp"
#include "oci/spec.hpp"

namespace veil::cli {

Result<int> cmd_spec(Context&, int argc, char** argv) {
  std::string bundle = ".";
  bool rootless = false, help = false;
  VEIL_TRY(parse_command(
      "spec",
      "usage: veil spec [--rootless] [--bundle DIR]\n\nWrite a default "
      "config.json into the bundle (never overwrites).\n"
      "  -b, --bundle DIR  bundle directory (default: .)\n"
      "      --rootless    a config for an unprivileged user\n",
      argc, argv, {{"bundle", 'b', true, to(bundle)}, {"rootless", 0, false, flag(rootless)}}, 0, 0,
      &help));
  if (help) return 0;
  std::string path = bundle + "/config.json";
  auto j = oci::default_spec(rootless, ::getuid(), ::getgid());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return fail(path + " exists; remove it first");
    return fail_errno("create " + path);
  }
  ::close(fd);
  VEIL_CHECK(write_file(path, j.dump(1, '\t') + "\n"));
  return 0;
}

Result<int> cmd_features(Context&, int argc, char** argv) {
  bool help = false;
  VEIL_TRY(parse_command("features",
                         "usage: veil features\n\nPrint what this runtime supports (JSON).\n", argc,
                         argv, {}, 0, 0, &help));
  if (help) return 0;
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
}

}  // namespace veil::cli
