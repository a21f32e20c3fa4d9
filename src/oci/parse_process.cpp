// The "process" section of config.json.
#include <sys/capability.h>
#include <sys/resource.h>

#include <set>

#include "oci/parse_internal.hpp"

namespace veil::oci {

using nlohmann::json;

namespace {

struct RlimitName {
  const char* name;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

Result<User> parse_user(const JsonAt& j) {
  VEIL_CHECK(j.object());
  User u;
  VEIL_CHECK(j["uid"].get(u.uid));
  VEIL_CHECK(j["gid"].get(u.gid));
  VEIL_CHECK(j["umask"].get(u.umask));
  JsonAt gids = j["additionalGids"];
  if (gids.present()) {
    size_t n = VEIL_TRY(gids.array());
    for (size_t i = 0; i < n; ++i)
      u.additional_gids.push_back(VEIL_TRY(gids[i].integer<uint32_t>()));
  }
  return u;
}

Result<std::vector<int>> parse_cap_list(const JsonAt& j) {
  std::vector<int> out;
  if (!j.present()) return out;
  size_t n = VEIL_TRY(j.array());
  for (size_t i = 0; i < n; ++i) {
    std::string name = VEIL_TRY(j[i].string());
    cap_value_t v;
    // cap_from_name() also takes lower case and bare numbers; config.json spells "CAP_CHOWN".
    if (!name.starts_with("CAP_") || cap_from_name(name.c_str(), &v) != 0)
      return j[i].fail("unknown capability " + json_quote(name));
    out.push_back(v);
  }
  return out;
}

Result<Capabilities> parse_capabilities(const JsonAt& j) {
  VEIL_CHECK(j.object());
  Capabilities c;
  c.bounding = VEIL_TRY(parse_cap_list(j["bounding"]));
  c.effective = VEIL_TRY(parse_cap_list(j["effective"]));
  c.inheritable = VEIL_TRY(parse_cap_list(j["inheritable"]));
  c.permitted = VEIL_TRY(parse_cap_list(j["permitted"]));
  c.ambient = VEIL_TRY(parse_cap_list(j["ambient"]));
  return c;
}

Result<std::vector<Rlimit>> parse_rlimits(const JsonAt& j) {
  size_t n = VEIL_TRY(j.array());
  std::vector<Rlimit> out;
  std::set<int> seen;
  for (size_t i = 0; i < n; ++i) {
    JsonAt r = j[i];
    VEIL_CHECK(r.object());
    Rlimit rl;
    rl.type = VEIL_TRY(r["type"].string());
    const RlimitName* known = nullptr;
    for (const auto& k : kRlimits)
      if (rl.type == k.name) known = &k;
    if (!known) return r["type"].fail("unknown rlimit " + json_quote(rl.type));
    rl.resource = known->resource;
    if (!seen.insert(rl.resource).second)
      return r["type"].fail("duplicate rlimit " + json_quote(rl.type));
    rl.soft = VEIL_TRY(r["soft"].integer<uint64_t>());
    rl.hard = VEIL_TRY(r["hard"].integer<uint64_t>());
    if (rl.soft > rl.hard)
      return r["soft"].fail("soft limit " + std::to_string(rl.soft) + " exceeds hard limit " +
                            std::to_string(rl.hard));
    out.push_back(std::move(rl));
  }
  return out;
}

Result<std::vector<std::string>> parse_env(const JsonAt& j) {
  auto env = VEIL_TRY(j.strings());
  for (size_t i = 0; i < env.size(); ++i) {
    auto eq = env[i].find('=');
    if (eq == std::string::npos || eq == 0)
      return j[i].fail("expected \"KEY=value\", got " + json_quote(env[i]));
  }
  return env;
}

}  // namespace

Result<Process> parse_process(const JsonAt& j) {
  VEIL_CHECK(j.object());
  Process p;
  VEIL_CHECK(j["terminal"].get(p.terminal));
  if (JsonAt cs = j["consoleSize"]; cs.present()) {
    VEIL_CHECK(cs.object());
    p.console_size = ConsoleSize{VEIL_TRY(cs["height"].integer<unsigned>()),
                                 VEIL_TRY(cs["width"].integer<unsigned>())};
  }
  if (j["user"].present()) p.user = VEIL_TRY(parse_user(j["user"]));

  JsonAt args = j["args"];
  if (!args.present() || !args.value().is_array() || args.value().empty())
    return args.fail("must be a non-empty array of strings");
  p.args = VEIL_TRY(args.strings());

  if (j["env"].present()) p.env = VEIL_TRY(parse_env(j["env"]));
  if (j["cwd"].present()) p.cwd = VEIL_TRY(j["cwd"].abs_path());
  if (j["capabilities"].present()) p.capabilities = VEIL_TRY(parse_capabilities(j["capabilities"]));
  if (j["rlimits"].present()) p.rlimits = VEIL_TRY(parse_rlimits(j["rlimits"]));
  VEIL_CHECK(j["noNewPrivileges"].get(p.no_new_privileges));
  VEIL_CHECK(j["oomScoreAdj"].get(p.oom_score_adj));
  if (p.oom_score_adj && (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000))
    return j["oomScoreAdj"].fail("must be between -1000 and 1000, got " +
                                 std::to_string(*p.oom_score_adj));
  VEIL_CHECK(j["apparmorProfile"].get(p.apparmor_profile));
  VEIL_CHECK(j["selinuxLabel"].get(p.selinux_label));
  return p;
}

}  // namespace veil::oci
