// A guard policy: which protections apply to a container and whether each blocks (enforce) or only
// reports (audit). Written by operators in YAML (docs/guard.md), selected per container by the
// OCI annotation org.veil.guard.policy, compiled into a guard::Spec that the runtime applies.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "guard/spec.hpp"

namespace veil::guard {

// Parses and validates policy YAML. `source` names the file in errors, which also give the line
// and column: "strict.yaml:12:7: rules.egress.allow[1].cidr: invalid CIDR \"10.0.0/33\"".
// Unknown keys are errors (a typo in a security policy must not silently weaken it).
Result<Spec> parse_policy(const std::string& yaml_text, const std::string& source);

// The built-in default profile: every built-in protection on, in enforce mode; egress allows
// everything until an allow list is given.
Spec default_policy();

// Resolves the annotation value: "default" (or empty) = the built-in profile; a value starting
// with '/' is a file; anything else is the name of <policy_dir>/<name>.yaml (names are
// [A-Za-z0-9._-], no "..").
Result<Spec> load_policy(const std::string& ref, const std::string& policy_dir);

// The default interpreter, netcat and socat program names and the sensitive syscall list.
const std::vector<std::string>& default_interpreters();
const std::vector<std::string>& default_sensitive_syscalls();

}  // namespace veil::guard
