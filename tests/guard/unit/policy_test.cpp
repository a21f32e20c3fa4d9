// Policy YAML: what is accepted, what each field compiles to, and that every mistake is refused
// with the file, line and column and the path of the offending key.
#include "guard/policy/policy.hpp"

#include <gtest/gtest.h>

namespace veil::guard {
namespace {

Spec ok(const std::string& yaml) {
  auto s = parse_policy(yaml, "p.yaml");
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().msg);
  return s ? *s : Spec{};
}

std::string err(const std::string& yaml) {
  auto s = parse_policy(yaml, "p.yaml");
  EXPECT_FALSE(s.has_value()) << "accepted:\n" << yaml;
  return s ? "" : s.error().msg;
}

TEST(GuardPolicy, DefaultProfileHasEveryBuiltInProtectionEnforced) {
  Spec d = default_policy();
  EXPECT_EQ(d.name, "default");
  for (Mode m : {d.reverse_shell, d.fileless, d.drift, d.egress, d.wx_memory, d.sensitive_syscalls})
    EXPECT_EQ(m, Mode::enforce);
  EXPECT_EQ(d.exec_rules, Mode::off);
  EXPECT_EQ(d.write_rules, Mode::off);
  EXPECT_TRUE(d.egress_allow_all);
  EXPECT_NE(std::find(d.interpreters.begin(), d.interpreters.end(), "sh"), d.interpreters.end());
  EXPECT_NE(std::find(d.sensitive.begin(), d.sensitive.end(), "ptrace"), d.sensitive.end());
}

TEST(GuardPolicy, AFileStartsFromTheBuiltInsInItsMode) {
  Spec s = ok("mode: audit\n");
  EXPECT_EQ(s.name, "p");  // from the file name
  for (Mode m : {s.reverse_shell, s.fileless, s.drift, s.egress, s.wx_memory, s.sensitive_syscalls})
    EXPECT_EQ(m, Mode::audit);
}

TEST(GuardPolicy, PerRuleModesOverrideThePolicyMode) {
  Spec s =
      ok("name: web\n"
         "mode: enforce\n"
         "rules:\n"
         "  drift: audit\n"
         "  wx_memory:\n"
         "    mode: off\n"
         "  fileless_exec:\n"
         "    memfd_noexec: 2\n"
         "  reverse_shell:\n"
         "    extra_interpreters: [gawk]\n");
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.drift, Mode::audit);
  EXPECT_EQ(s.wx_memory, Mode::off);
  EXPECT_EQ(s.fileless, Mode::enforce);
  EXPECT_EQ(s.memfd_noexec, 2);
  EXPECT_EQ(s.interpreters.back(), "gawk");
}

TEST(GuardPolicy, EgressAllowListExpandsPortsAndNormalisesNetworks) {
  Spec s =
      ok("rules:\n"
         "  egress:\n"
         "    allow:\n"
         "      - 10.1.2.3/8\n"
         "      - cidr: 127.0.0.1/32\n"
         "        ports: [8080, \"9000-9100\"]\n"
         "        protocol: tcp\n"
         "      - fd00::1/16\n");
  EXPECT_FALSE(s.egress_allow_all);
  ASSERT_EQ(s.egress_allow.size(), 4u);
  EXPECT_EQ(s.egress_allow[0], (EgressRule{4, "10.0.0.0", 8, 0, 0, 65535}));
  EXPECT_EQ(s.egress_allow[1], (EgressRule{4, "127.0.0.1", 32, 6, 8080, 8080}));
  EXPECT_EQ(s.egress_allow[2], (EgressRule{4, "127.0.0.1", 32, 6, 9000, 9100}));
  EXPECT_EQ(s.egress_allow[3], (EgressRule{6, "fd00::", 16, 0, 0, 65535}));
}

TEST(GuardPolicy, ExecAndWriteRules) {
  Spec s =
      ok("exec:\n"
         "  deny: [/usr/bin/wget, \"sha256:" +
         std::string(64, 'a') +
         "\"]\n"
         "write:\n"
         "  deny: [\"/etc/**\"]\n");
  EXPECT_EQ(s.exec_rules, Mode::enforce);
  EXPECT_EQ(s.exec_deny.size(), 2u);
  EXPECT_EQ(s.write_rules, Mode::enforce);
  EXPECT_EQ(s.write_deny, std::vector<std::string>{"/etc/**"});
}

TEST(GuardPolicy, ErrorsNameFileLineColumnAndPath) {
  EXPECT_EQ(err("rules:\n  egress:\n    allow:\n      - 10.0.0/33\n"),
            "p.yaml:4:9: rules.egress.allow[0]: invalid CIDR \"10.0.0/33\"");
  EXPECT_EQ(
      err("rules:\n  drift: sometimes\n"),
      "p.yaml:2:10: rules.drift: unknown mode \"sometimes\" (expected enforce, audit or off)");
  std::string unknown = err("rules:\n  drfit: audit\n");
  EXPECT_NE(unknown.find("p.yaml:2:3: rules.drfit: unknown key"), std::string::npos) << unknown;
  std::string port =
      err("rules:\n  egress:\n    allow:\n      - cidr: 0.0.0.0/0\n        ports: [70000]\n");
  EXPECT_NE(port.find("p.yaml:5:17: rules.egress.allow[0].ports[0]: invalid port \"70000\""),
            std::string::npos)
      << port;
  std::string sys = err("rules:\n  sensitive_syscalls:\n    syscalls: [ptrace, frobnicate]\n");
  EXPECT_NE(sys.find("p.yaml:3:24:"), std::string::npos) << sys;
  EXPECT_NE(sys.find("unknown syscall \"frobnicate\""), std::string::npos) << sys;
}

TEST(GuardPolicy, MalformedYamlNamesTheLine) {
  std::string e = err("rules:\n  drift: [audit\n");
  EXPECT_TRUE(e.starts_with("p.yaml:")) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
}

TEST(GuardPolicy, RefusesWhatCannotBeHonoured) {
  EXPECT_NE(err("mode: off\n").find("mode: a policy mode is enforce or audit"), std::string::npos);
  EXPECT_NE(err("rules: {reverse_shell: off, fileless_exec: off, drift: off, egress: off, "
                "wx_memory: off, sensitive_syscalls: off}\n")
                .find("turns every protection off"),
            std::string::npos);
  EXPECT_NE(err("write:\n  mode: audit\n  deny: [/etc]\n").find("audit is not available"),
            std::string::npos);
  EXPECT_NE(err("exec:\n  deny: [relative/path]\n").find("absolute path glob or sha256"),
            std::string::npos);
  EXPECT_NE(err("exec:\n  deny: [\"sha256:abc\"]\n").find("64 lowercase hex digits"),
            std::string::npos);
  EXPECT_NE(err("version: 2\n").find("unsupported version"), std::string::npos);
  EXPECT_NE(err("rules:\n  fileless_exec:\n    memfd_noexec: 3\n").find("expected 0, 1 or 2"),
            std::string::npos);
  std::string many = "rules:\n  egress:\n    allow:\n";
  for (int i = 0; i < 17; ++i) many += "      - 10.0.0." + std::to_string(i) + "\n";
  EXPECT_NE(err(many).find("at most 16 entries"), std::string::npos);
}

TEST(GuardPolicy, LoadPolicyResolvesNamesPathsAndTheDefault) {
  auto d = load_policy("default", "/nonexistent");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->source, "built-in");
  auto bad = load_policy("../etc/passwd", "/etc/veil/guard");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().msg.find("a policy name is letters"), std::string::npos);
  auto missing = load_policy("nope", "/nonexistent-dir");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().str().find("/nonexistent-dir/nope.yaml"), std::string::npos)
      << missing.error().str();
}

TEST(GuardSpec, JsonRoundTrip) {
  Spec s =
      ok("name: rt\nrules:\n  drift: audit\n  egress:\n    allow: [\"192.168.0.0/16\"]\n"
         "exec:\n  allow: [\"/bin/*\"]\nwrite:\n  deny: [\"/etc/**\"]\n");
  auto back = Spec::from_json(s.to_json());
  ASSERT_TRUE(back) << back.error().msg;
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(Spec::from_json(nlohmann::json{{"name", "x"}}).has_value());
}

}  // namespace
}  // namespace veil::guard
