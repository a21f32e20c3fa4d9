// guard::Spec: a compiled guard policy, the form the runtime applies. `veil-guard prepare` turns a
// YAML policy into this (as JSON on stdout), so the static `veil` binary never links a YAML parser;
// `veil` reads it back with from_json().
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::guard {

enum class Mode { off, audit, enforce };
const char* mode_name(Mode m);
Result<Mode> parse_mode(const std::string& s);

struct EgressRule {
  int family = 4;       // 4 or 6
  std::string address;  // network address, textual ("10.0.0.0", "fd00::")
  int prefix = 0;
  int proto = 0;  // 0 any, 6 tcp, 17 udp
  int port_lo = 0, port_hi = 65535;
  bool operator==(const EgressRule&) const = default;
};

struct Spec {
  std::string name;    // policy name (reported in events)
  std::string source;  // "built-in" or the file it came from

  Mode reverse_shell = Mode::off;
  Mode fileless = Mode::off;
  Mode drift = Mode::off;
  Mode egress = Mode::off;
  Mode wx_memory = Mode::off;
  Mode sensitive_syscalls = Mode::off;
  Mode exec_rules = Mode::off;   // exec allow/deny lists
  Mode write_rules = Mode::off;  // write deny globs

  std::vector<std::string> interpreters;  // program names treated as shells/interpreters
  std::vector<std::string> netcat = {"nc", "ncat", "netcat"};
  std::vector<std::string> socat = {"socat"};
  bool egress_allow_all = true;  // no allow list given
  std::vector<EgressRule> egress_allow;
  int memfd_noexec = 0;  // vm.memfd_noexec for the container's pid namespace (0 = leave alone)
  std::vector<std::string> sensitive;   // syscall names
  std::vector<std::string> exec_allow;  // path globs and "sha256:<hex>"
  std::vector<std::string> exec_deny;
  std::vector<std::string> write_deny;  // path globs

  bool any() const;
  // Rules only the BPF programs enforce (or, without BPF, Landlock in part).
  bool needs_bpf() const;
  nlohmann::json to_json() const;
  static Result<Spec> from_json(const nlohmann::json& j);
  bool operator==(const Spec&) const = default;
};

}  // namespace veil::guard
