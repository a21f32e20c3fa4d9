#include "guard/policy/policy.hpp"

#include <arpa/inet.h>
#include <seccomp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "base/file.hpp"

namespace veil::guard {
namespace {

bool known_syscall(const std::string& name) {
  return seccomp_syscall_resolve_name(name.c_str()) != __NR_SCMP_ERROR;
}

// Errors carry "<source>:<line>:<column>: <path>: <problem>".
struct Ctx {
  std::string source;
  std::unexpected<Error> err(const YAML::Node& n, const std::string& path,
                             const std::string& msg) const {
    const auto m = n.Mark();
    std::string where = source;
    if (m.line >= 0) where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    return fail(where + ": " + path + ": " + msg);
  }
};

Result<> only_keys(const Ctx& c, const YAML::Node& n, const std::string& path,
                   std::initializer_list<const char*> keys) {
  if (!n.IsMap()) return c.err(n, path, "expected a mapping");
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    if (std::none_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; })) {
      std::string known;
      for (const char* x : keys) known += std::string(known.empty() ? "" : ", ") + x;
      return c.err(kv.first, path.empty() ? k : path + "." + k,
                   "unknown key (expected one of: " + known + ")");
    }
  }
  return {};
}

Result<std::string> scalar(const Ctx& c, const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) return c.err(n, path, "expected a string");
  return n.Scalar();
}

Result<std::vector<std::string>> strings(const Ctx& c, const YAML::Node& n,
                                         const std::string& path) {
  if (!n.IsSequence()) return c.err(n, path, "expected a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    auto s = VEIL_TRY(scalar(c, n[i], p));
    if (s.empty()) return c.err(n[i], p, "must not be empty");
    out.push_back(s);
  }
  return out;
}

Result<Mode> mode_at(const Ctx& c, const YAML::Node& n, const std::string& path) {
  auto s = VEIL_TRY(scalar(c, n, path));
  auto m = parse_mode(s);
  if (!m) return c.err(n, path, m.error().msg);
  return *m;
}

Result<int> port_number(const Ctx& c, const YAML::Node& n, const std::string& path,
                        const std::string& text) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || v < 0 || v > 65535)
    return c.err(n, path, "invalid port \"" + text + "\" (0-65535)");
  return static_cast<int>(v);
}

// "10.0.0.0/8", "fd00::/8", "127.0.0.1" (a host). The address is normalised to its network.
Result<EgressRule> parse_cidr(const Ctx& c, const YAML::Node& n, const std::string& path,
                              const std::string& text) {
  EgressRule r;
  std::string addr = text;
  int prefix = -1;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string p = text.substr(slash + 1);
    char* end = nullptr;
    long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end) return c.err(n, path, "invalid CIDR \"" + text + "\"");
    prefix = static_cast<int>(v);
  }
  unsigned char buf[16] = {};
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    r.family = 4;
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return c.err(n, path, "invalid CIDR \"" + text + "\" (prefix over 32)");
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    r.family = 6;
    if (prefix < 0) prefix = 128;
    if (prefix > 128) return c.err(n, path, "invalid CIDR \"" + text + "\" (prefix over 128)");
  } else {
    return c.err(n, path, "invalid CIDR \"" + text + "\"");
  }
  r.prefix = prefix;
  int bytes = r.family == 4 ? 4 : 16;
  for (int b = 0; b < bytes; ++b) {
    int bits = prefix - 8 * b;
    unsigned char mask = bits >= 8   ? 0xff
                         : bits <= 0 ? 0
                                     : static_cast<unsigned char>(0xff << (8 - bits));
    buf[b] &= mask;
  }
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(r.family == 4 ? AF_INET : AF_INET6, buf, out, sizeof(out));
  r.address = out;
  return r;
}

Result<std::vector<EgressRule>> parse_allow(const Ctx& c, const YAML::Node& n,
                                            const std::string& path) {
  if (!n.IsSequence()) return c.err(n, path, "expected a list of CIDRs or {cidr, ports, protocol}");
  std::vector<EgressRule> out;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    const YAML::Node item = n[i];
    if (item.IsScalar()) {
      out.push_back(VEIL_TRY(parse_cidr(c, item, p, item.Scalar())));
      continue;
    }
    VEIL_CHECK(only_keys(c, item, p, {"cidr", "ports", "protocol"}));
    if (!item["cidr"]) return c.err(item, p + ".cidr", "required");
    std::string cidr = VEIL_TRY(scalar(c, item["cidr"], p + ".cidr"));
    EgressRule base = VEIL_TRY(parse_cidr(c, item["cidr"], p + ".cidr", cidr));
    if (item["protocol"]) {
      auto proto = VEIL_TRY(scalar(c, item["protocol"], p + ".protocol"));
      if (proto == "tcp")
        base.proto = 6;
      else if (proto == "udp")
        base.proto = 17;
      else if (proto != "any")
        return c.err(item["protocol"], p + ".protocol",
                     "unknown protocol \"" + proto + "\" (expected tcp, udp or any)");
    }
    if (!item["ports"]) {
      out.push_back(base);
      continue;
    }
    const YAML::Node ports = item["ports"];
    if (!ports.IsSequence() || ports.size() == 0)
      return c.err(ports, p + ".ports", "expected a non-empty list of ports or \"lo-hi\" ranges");
    for (size_t k = 0; k < ports.size(); ++k) {
      std::string pp = p + ".ports[" + std::to_string(k) + "]";
      auto text = VEIL_TRY(scalar(c, ports[k], pp));
      EgressRule r = base;
      if (auto dash = text.find('-'); dash != std::string::npos) {
        r.port_lo = VEIL_TRY(port_number(c, ports[k], pp, text.substr(0, dash)));
        r.port_hi = VEIL_TRY(port_number(c, ports[k], pp, text.substr(dash + 1)));
        if (r.port_lo > r.port_hi) return c.err(ports[k], pp, "range \"" + text + "\" is reversed");
      } else {
        r.port_lo = r.port_hi = VEIL_TRY(port_number(c, ports[k], pp, text));
      }
      out.push_back(r);
    }
  }
  return out;
}

Result<Mode> rule_mode(const Ctx& c, const YAML::Node& n, const std::string& path,
                       Mode policy_mode) {
  if (n.IsNull()) return policy_mode;            // "drift:" with nothing after it
  if (n.IsScalar()) return mode_at(c, n, path);  // "drift: audit"
  if (!n.IsMap()) return c.err(n, path, "expected a mode or a mapping");
  if (n["mode"]) return mode_at(c, n["mode"], path + ".mode");
  return policy_mode;
}

bool valid_glob(const std::string& g) {
  return !g.empty() && g[0] == '/';
}

Result<> check_exec_entry(const Ctx& c, const YAML::Node& n, const std::string& path,
                          const std::string& v) {
  if (v.starts_with("sha256:")) {
    std::string hex = v.substr(7);
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char ch) {
          return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
        }))
      return c.err(n, path, "\"" + v + "\": sha256: needs 64 lowercase hex digits");
    return {};
  }
  if (!valid_glob(v))
    return c.err(n, path, "\"" + v + "\": expected an absolute path glob or sha256:<hex>");
  return {};
}

Result<Spec> parse_root(const Ctx& c, const YAML::Node& root) {
  VEIL_CHECK(only_keys(c, root, "", {"version", "name", "mode", "rules", "exec", "write"}));
  Spec s;
  s.source = c.source;
  if (root["version"]) {
    auto v = VEIL_TRY(scalar(c, root["version"], "version"));
    if (v != "1")
      return c.err(root["version"], "version", "unsupported version \"" + v + "\" (expected 1)");
  }
  if (root["name"]) s.name = VEIL_TRY(scalar(c, root["name"], "name"));
  Mode pm = Mode::enforce;
  if (root["mode"]) {
    pm = VEIL_TRY(mode_at(c, root["mode"], "mode"));
    if (pm == Mode::off) return c.err(root["mode"], "mode", "a policy mode is enforce or audit");
  }
  s.interpreters = default_interpreters();
  s.sensitive = default_sensitive_syscalls();
  // Every built-in protection starts on, in the policy's mode; rules: entries change that.
  s.reverse_shell = s.fileless = s.drift = s.egress = s.wx_memory = s.sensitive_syscalls = pm;

  if (const YAML::Node rules = root["rules"]) {
    VEIL_CHECK(only_keys(
        c, rules, "rules",
        {"reverse_shell", "fileless_exec", "drift", "egress", "wx_memory", "sensitive_syscalls"}));
    if (const auto n = rules["reverse_shell"]) {
      s.reverse_shell = VEIL_TRY(rule_mode(c, n, "rules.reverse_shell", pm));
      if (n.IsMap()) {
        VEIL_CHECK(
            only_keys(c, n, "rules.reverse_shell", {"mode", "interpreters", "extra_interpreters"}));
        if (n["interpreters"])
          s.interpreters =
              VEIL_TRY(strings(c, n["interpreters"], "rules.reverse_shell.interpreters"));
        if (n["extra_interpreters"])
          for (auto& x : VEIL_TRY(
                   strings(c, n["extra_interpreters"], "rules.reverse_shell.extra_interpreters")))
            s.interpreters.push_back(x);
        for (const auto& x : s.interpreters)
          if (x.size() > 15 || x.find('/') != std::string::npos)
            return c.err(n, "rules.reverse_shell.interpreters",
                         "\"" + x + "\": a program name (no '/', at most 15 characters)");
      }
    }
    if (const auto n = rules["fileless_exec"]) {
      s.fileless = VEIL_TRY(rule_mode(c, n, "rules.fileless_exec", pm));
      if (n.IsMap()) {
        VEIL_CHECK(only_keys(c, n, "rules.fileless_exec", {"mode", "memfd_noexec"}));
        if (n["memfd_noexec"]) {
          auto v = VEIL_TRY(scalar(c, n["memfd_noexec"], "rules.fileless_exec.memfd_noexec"));
          if (v != "0" && v != "1" && v != "2")
            return c.err(n["memfd_noexec"], "rules.fileless_exec.memfd_noexec",
                         "expected 0, 1 or 2 (the vm.memfd_noexec levels)");
          s.memfd_noexec = v[0] - '0';
        }
      }
    }
    if (const auto n = rules["drift"]) {
      s.drift = VEIL_TRY(rule_mode(c, n, "rules.drift", pm));
      if (n.IsMap()) VEIL_CHECK(only_keys(c, n, "rules.drift", {"mode"}));
    }
    if (const auto n = rules["egress"]) {
      s.egress = VEIL_TRY(rule_mode(c, n, "rules.egress", pm));
      if (n.IsMap()) {
        VEIL_CHECK(only_keys(c, n, "rules.egress", {"mode", "allow"}));
        if (n["allow"]) {
          s.egress_allow = VEIL_TRY(parse_allow(c, n["allow"], "rules.egress.allow"));
          s.egress_allow_all = false;
          if (s.egress_allow.size() > 16)
            return c.err(n["allow"], "rules.egress.allow",
                         "at most 16 entries (after expanding ports), got " +
                             std::to_string(s.egress_allow.size()));
        }
      }
    }
    if (const auto n = rules["wx_memory"]) {
      s.wx_memory = VEIL_TRY(rule_mode(c, n, "rules.wx_memory", pm));
      if (n.IsMap()) VEIL_CHECK(only_keys(c, n, "rules.wx_memory", {"mode"}));
    }
    if (const auto n = rules["sensitive_syscalls"]) {
      s.sensitive_syscalls = VEIL_TRY(rule_mode(c, n, "rules.sensitive_syscalls", pm));
      if (n.IsMap()) {
        VEIL_CHECK(only_keys(c, n, "rules.sensitive_syscalls", {"mode", "syscalls"}));
        if (n["syscalls"]) {
          s.sensitive = VEIL_TRY(strings(c, n["syscalls"], "rules.sensitive_syscalls.syscalls"));
          for (size_t i = 0; i < s.sensitive.size(); ++i)
            if (!known_syscall(s.sensitive[i]))
              return c.err(n["syscalls"][i],
                           "rules.sensitive_syscalls.syscalls[" + std::to_string(i) + "]",
                           "unknown syscall \"" + s.sensitive[i] + "\"");
        }
      }
    }
  }
  if (const YAML::Node ex = root["exec"]) {
    VEIL_CHECK(only_keys(c, ex, "exec", {"mode", "allow", "deny"}));
    s.exec_rules = ex["mode"] ? VEIL_TRY(mode_at(c, ex["mode"], "exec.mode")) : pm;
    for (const char* key : {"allow", "deny"}) {
      if (!ex[key]) continue;
      std::string p = std::string("exec.") + key;
      auto list = VEIL_TRY(strings(c, ex[key], p));
      for (size_t i = 0; i < list.size(); ++i)
        VEIL_CHECK(check_exec_entry(c, ex[key][i], p + "[" + std::to_string(i) + "]", list[i]));
      (std::string(key) == "allow" ? s.exec_allow : s.exec_deny) = list;
    }
    if (s.exec_allow.empty() && s.exec_deny.empty())
      return c.err(ex, "exec", "give an allow or a deny list");
  }
  if (const YAML::Node w = root["write"]) {
    VEIL_CHECK(only_keys(c, w, "write", {"mode", "deny"}));
    s.write_rules = w["mode"] ? VEIL_TRY(mode_at(c, w["mode"], "write.mode")) : pm;
    if (s.write_rules == Mode::audit)
      return c.err(w["mode"] ? w["mode"] : w, "write.mode",
                   "audit is not available for write rules (Landlock can only refuse, and "
                   "reports nothing); use enforce or off");
    if (!w["deny"]) return c.err(w, "write.deny", "required");
    s.write_deny = VEIL_TRY(strings(c, w["deny"], "write.deny"));
    for (size_t i = 0; i < s.write_deny.size(); ++i)
      if (!valid_glob(s.write_deny[i]))
        return c.err(w["deny"][i], "write.deny[" + std::to_string(i) + "]",
                     "\"" + s.write_deny[i] + "\": expected an absolute path glob");
  }
  if (!s.any()) return c.err(root, "rules", "the policy turns every protection off");
  return s;
}

}  // namespace

const std::vector<std::string>& default_interpreters() {
  static const std::vector<std::string> v = {
      "sh",     "ash",  "bash", "dash", "zsh", "ksh",  "mksh",   "csh",   "tcsh",   "fish",
      "python", "perl", "ruby", "php",  "lua", "node", "nodejs", "tclsh", "busybox"};
  return v;
}

const std::vector<std::string>& default_sensitive_syscalls() {
  static const std::vector<std::string> v = {
      "ptrace",          "process_vm_readv", "process_vm_writev", "bpf",
      "perf_event_open", "init_module",      "finit_module",      "delete_module",
      "kexec_load",      "kexec_file_load",  "userfaultfd",       "keyctl",
      "add_key",         "request_key",      "open_by_handle_at", "iopl",
      "ioperm",          "swapon",           "swapoff",           "reboot"};
  return v;
}

Spec default_policy() {
  Spec s;
  s.name = "default";
  s.source = "built-in";
  s.reverse_shell = s.fileless = s.drift = s.egress = s.wx_memory = s.sensitive_syscalls =
      Mode::enforce;
  s.interpreters = default_interpreters();
  s.sensitive = default_sensitive_syscalls();
  return s;
}

Result<Spec> parse_policy(const std::string& yaml_text, const std::string& source) {
  Ctx c{source};
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    std::string where = source;
    if (e.mark.line >= 0)
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return fail(where + ": invalid YAML: " + e.msg);
  }
  if (!root || root.IsNull()) return fail(source + ": empty policy");
  try {
    auto s = parse_root(c, root);
    if (s && s->name.empty()) {
      std::string base = source.substr(source.rfind('/') + 1);
      if (base.ends_with(".yaml")) base.resize(base.size() - 5);
      s->name = base;
    }
    return s;
  } catch (const YAML::Exception& e) {
    return fail(source + ": " + e.what());
  }
}

Result<Spec> load_policy(const std::string& ref, const std::string& policy_dir) {
  if (ref.empty() || ref == "default") return default_policy();
  std::string path;
  if (ref[0] == '/') {
    path = ref;
  } else {
    bool ok = ref != "." && ref != ".." && std::all_of(ref.begin(), ref.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' ||
                       ch == '-';
              });
    if (!ok || ref.find("..") != std::string::npos)
      return fail(
          "policy \"" + ref +
          "\": a policy name is letters, digits, '.', '_' and '-' (or give an absolute path)");
    path = policy_dir + "/" + ref + ".yaml";
  }
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().wrap("policy \"" + ref + "\""));
  return parse_policy(*text, path);
}

}  // namespace veil::guard
