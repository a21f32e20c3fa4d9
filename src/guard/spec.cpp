#include "guard/spec.hpp"

namespace veil::guard {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::off:
      return "off";
    case Mode::audit:
      return "audit";
    case Mode::enforce:
      return "enforce";
  }
  return "?";
}

Result<Mode> parse_mode(const std::string& s) {
  if (s == "off") return Mode::off;
  if (s == "audit") return Mode::audit;
  if (s == "enforce") return Mode::enforce;
  return fail("unknown mode \"" + s + "\" (expected enforce, audit or off)");
}

bool Spec::any() const {
  for (Mode m : {reverse_shell, fileless, drift, egress, wx_memory, sensitive_syscalls, exec_rules,
                 write_rules})
    if (m != Mode::off) return true;
  return false;
}

bool Spec::needs_bpf() const {
  return reverse_shell != Mode::off || fileless != Mode::off || drift != Mode::off ||
         (egress != Mode::off && !egress_allow_all) ||
         (exec_rules != Mode::off && !exec_allow.empty());
}

nlohmann::json Spec::to_json() const {
  nlohmann::json rules = {
      {"reverse_shell", mode_name(reverse_shell)},
      {"fileless_exec", mode_name(fileless)},
      {"drift", mode_name(drift)},
      {"egress", mode_name(egress)},
      {"wx_memory", mode_name(wx_memory)},
      {"sensitive_syscalls", mode_name(sensitive_syscalls)},
      {"exec", mode_name(exec_rules)},
      {"write", mode_name(write_rules)},
  };
  nlohmann::json allow = nlohmann::json::array();
  for (const auto& r : egress_allow)
    allow.push_back({{"family", r.family},
                     {"address", r.address},
                     {"prefix", r.prefix},
                     {"proto", r.proto},
                     {"port_lo", r.port_lo},
                     {"port_hi", r.port_hi}});
  return {{"name", name},
          {"source", source},
          {"rules", rules},
          {"interpreters", interpreters},
          {"netcat", netcat},
          {"socat", socat},
          {"egress_allow_all", egress_allow_all},
          {"egress_allow", allow},
          {"memfd_noexec", memfd_noexec},
          {"sensitive_syscalls", sensitive},
          {"exec_allow", exec_allow},
          {"exec_deny", exec_deny},
          {"write_deny", write_deny}};
}

Result<Spec> Spec::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail("guard spec: not a JSON object");
  try {
    Spec s;
    s.name = j.at("name").get<std::string>();
    s.source = j.at("source").get<std::string>();
    const auto& r = j.at("rules");
    auto mode = [&](const char* key) -> Result<Mode> {
      auto m = parse_mode(r.at(key).get<std::string>());
      if (!m) return std::unexpected(m.error().wrap(std::string("guard spec: rules.") + key));
      return *m;
    };
    s.reverse_shell = VEIL_TRY(mode("reverse_shell"));
    s.fileless = VEIL_TRY(mode("fileless_exec"));
    s.drift = VEIL_TRY(mode("drift"));
    s.egress = VEIL_TRY(mode("egress"));
    s.wx_memory = VEIL_TRY(mode("wx_memory"));
    s.sensitive_syscalls = VEIL_TRY(mode("sensitive_syscalls"));
    s.exec_rules = VEIL_TRY(mode("exec"));
    s.write_rules = VEIL_TRY(mode("write"));
    s.interpreters = j.at("interpreters").get<std::vector<std::string>>();
    s.netcat = j.at("netcat").get<std::vector<std::string>>();
    s.socat = j.at("socat").get<std::vector<std::string>>();
    s.egress_allow_all = j.at("egress_allow_all").get<bool>();
    for (const auto& e : j.at("egress_allow")) {
      EgressRule er;
      er.family = e.at("family").get<int>();
      er.address = e.at("address").get<std::string>();
      er.prefix = e.at("prefix").get<int>();
      er.proto = e.at("proto").get<int>();
      er.port_lo = e.at("port_lo").get<int>();
      er.port_hi = e.at("port_hi").get<int>();
      s.egress_allow.push_back(er);
    }
    s.memfd_noexec = j.at("memfd_noexec").get<int>();
    s.sensitive = j.at("sensitive_syscalls").get<std::vector<std::string>>();
    s.exec_allow = j.at("exec_allow").get<std::vector<std::string>>();
    s.exec_deny = j.at("exec_deny").get<std::vector<std::string>>();
    s.write_deny = j.at("write_deny").get<std::vector<std::string>>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("guard spec: ") + e.what());
  }
}

}  // namespace veil::guard
