// veil-attest's pieces that need no KBS: its config file, the org.veil.secrets list, and the
// measurement rule for the secrets mount point.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "attest/measure.hpp"
#include "base/file.hpp"
#include "kbs/agent/config.hpp"
#include "kbs/agent/secrets_list.hpp"

namespace {

using namespace veil;

TEST(AgentConfig, FullAndMinimal) {
  auto c = agent::parse_config(R"({"kbs":{"url":"https://kbs:8443","ca_cert":"/ca.pem",
      "timeout":5},"attester":{"backend":"tpm","tcti":"swtpm:port=1","event_log":"/run/x.log"}})",
                               "/etc/veil/config.json");
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->kbs.url, "https://kbs:8443");
  EXPECT_EQ(c->kbs.ca_cert, "/ca.pem");
  EXPECT_EQ(c->kbs.timeout, 5);
  EXPECT_EQ(c->attester.backend, "tpm");
  EXPECT_EQ(c->attester.tcti, "swtpm:port=1");
  EXPECT_EQ(c->attester.event_log, "/run/x.log");
  EXPECT_TRUE(agent::check_complete(*c));

  auto m = agent::parse_config(R"({"kbs":{"url":"http://k"},"attester":{"backend":"tpm"}})", "f");
  ASSERT_TRUE(m) << m.error().str();
  EXPECT_EQ(m->kbs.timeout, 30);
  EXPECT_EQ(m->attester.tcti, "device:/dev/tpmrm0");
  EXPECT_EQ(m->attester.event_log, "/run/veil/tpm-pcr23.log");

  auto snp = agent::parse_config(
      R"({"kbs":{"url":"http://k"},"attester":{"backend":"snp","snp_vmpl":2}})", "f");
  ASSERT_TRUE(snp) << snp.error().str();
  EXPECT_EQ(snp->attester.snp_vmpl, 2u);
  EXPECT_FALSE(m->attester.snp_vmpl);  // not set: the kernel's floor

  auto empty = agent::parse_config("{}", "f").value();
  auto incomplete = agent::check_complete(empty);
  ASSERT_FALSE(incomplete);
  EXPECT_NE(incomplete.error().msg.find("kbs.url is not set"), std::string::npos);
}

TEST(AgentConfig, ErrorsNameTheFileAndTheKey) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"{", "f: not valid JSON"},
      {"[]", "f: must be a JSON object"},
      {R"({"kbs":{"url":"http://k"},"extra":1})", "f: extra: unknown key"},
      {R"({"kbs":{"url":"ftp://k"}})", "f: kbs.url: must start with http:// or https://"},
      {R"({"kbs":{"url":7}})", "f: kbs.url: expected a string, got number"},
      {R"({"kbs":{"url":"http://k","timeout":0}})", "f: kbs.timeout: must be 1..3600 seconds"},
      {R"({"kbs":{"url":"http://k","tls":true}})", "f: kbs.tls: unknown key"},
      {R"({"attester":{"backend":"sgx"}})", "f: attester.backend: must be \"tpm\" or \"sample\""},
      {R"({"attester":{"backend":"sample"}})", "f: attester.sample_key: is required"},
      {R"({"attester":{"backend":"tpm","event_log":"rel.log"}})",
       "f: attester.event_log: must be an absolute path"},
      {R"({"attester":{"backend":"snp","snp_vmpl":4}})", "f: attester.snp_vmpl: must be 0..3"},
      {R"({"attester":{"backend":"snp","snp_vmpl":"0"}})", "f: attester.snp_vmpl: expected"},
      {R"({"attester":{"backend":"tdx","snp_vmpl":1}})",
       "f: attester.snp_vmpl: applies only to the \"snp\" and \"auto\" backends"},
  };
  for (const auto& c : cases) {
    auto r = agent::parse_config(c.text, "f");
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().msg.find(c.want), std::string::npos) << c.text << " -> " << r.error().msg;
  }
}

TEST(AgentConfig, PathFromFlagThenEnvironmentThenDefault) {
  ::unsetenv(agent::kConfigEnv);
  EXPECT_EQ(agent::config_path(), "/etc/veil/config.json");
  ::setenv(agent::kConfigEnv, "/tmp/v.json", 1);
  EXPECT_EQ(agent::config_path(), "/tmp/v.json");
  EXPECT_EQ(agent::config_path("/x.json"), "/x.json");
  ::unsetenv(agent::kConfigEnv);
  auto missing = agent::load_config("/nonexistent/veil.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().msg.find("/nonexistent/veil.json"), std::string::npos);
}

TEST(SecretsList, CommaSeparatedUris) {
  auto l = agent::parse_secrets_annotation("kbs:///prod/db/password, kbs:///prod/tls/server.key");
  ASSERT_TRUE(l) << l.error().str();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].path, "prod/db/password");
  EXPECT_EQ((*l)[0].tag, "password");
  EXPECT_EQ((*l)[1].path, "prod/tls/server.key");
  EXPECT_EQ((*l)[1].tag, "server.key");
  EXPECT_EQ(agent::parse_secret_uri("a/b/c", true).value().path, "a/b/c");
  EXPECT_FALSE(agent::parse_secret_uri("a/b/c"));
}

TEST(SecretsList, BadListsRefused) {
  struct Case {
    const char* value;
    const char* want;
  } cases[] = {
      {"", "lists no resources"},
      {"kbs:///a/b/c,,kbs:///a/b/d", "empty item"},
      {"kbs://kbs.example/a/b/c", "a KBS host in the URI is not supported"},
      {"https://a/b/c", "not a kbs:///"},
      {"kbs:///a/b", "exactly <repository>/<type>/<tag>"},
      {"kbs:///a/b/c/d", "exactly <repository>/<type>/<tag>"},
      {"kbs:///a/../c", "segment \"..\""},
      {"kbs:///a/b/.", "segment \".\""},
      {"kbs:///a/b/x y", "segment \"x y\""},
      {"kbs:///a/b/key,kbs:///c/d/key", "two resources have the tag \"key\""},
  };
  for (const auto& c : cases) {
    auto r = agent::parse_secrets_annotation(c.value);
    ASSERT_FALSE(r) << c.value;
    EXPECT_NE(r.error().msg.find("annotation org.veil.secrets"), std::string::npos)
        << r.error().msg;
    EXPECT_NE(r.error().msg.find(c.want), std::string::npos) << c.value << " -> " << r.error().msg;
  }
}

// The secrets mount point is measured as an empty 0755 directory whether it exists or not, so a
// bundle measures the same before and after veil created it; everything else still counts.
TEST(Measure, SecretsMountPointIsMeasuredAsEmptyDirectory) {
  char tmpl[] = "/tmp/veil-measure-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  mkdir_all(dir + "/rootfs/bin").value();
  write_file_atomic(dir + "/rootfs/bin/sh", "#!echo", 0755).value();
  write_file_atomic(dir + "/config.json", R"({"process":{"args":["sh"]},"root":{"path":"rootfs"}})")
      .value();
  auto m = [&] { return attest::measure_bundle(dir).value(); };
  std::string no_run = m();
  ASSERT_EQ(::mkdir((dir + "/rootfs/run").c_str(), 0755), 0);
  ::chmod((dir + "/rootfs/run").c_str(), 0755);
  EXPECT_EQ(m(), no_run) << "an empty /run counts as /run holding only the mount point";
  ASSERT_EQ(::mkdir((dir + "/rootfs/run/secrets").c_str(), 0700), 0);
  EXPECT_EQ(m(), no_run) << "the mount point itself is not measured";
  write_file_atomic(dir + "/rootfs/run/secrets/shadowed", "x").value();
  EXPECT_EQ(m(), no_run) << "what a tmpfs covers is not what the sandbox sees";
  write_file_atomic(dir + "/rootfs/run/other", "x").value();
  EXPECT_NE(m(), no_run) << "the rest of /run is measured";
  ::unlink((dir + "/rootfs/run/other").c_str());
  EXPECT_EQ(m(), no_run);
  ::chmod((dir + "/rootfs/run").c_str(), 0700);
  EXPECT_NE(m(), no_run) << "/run's own mode is measured";
  remove_all(dir).value();
}

}  // namespace
