// Secrets in containers, end to end: a real veil-kbs on 127.0.0.1, `veil create`/`run` with the
// org.veil.secrets annotation, the veil-attest agent next to veil (sample and tpm evidence, the
// latter against a real swtpm), and what the container, the host and the disk see afterwards.
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "attest/measure.hpp"
#include "attest/tpm.hpp"
#include "fixture.hpp"
#include "harness.hpp"
#include "process_memory.hpp"
#include "swtpm.hpp"

namespace secretstest {

using veil::test::Bundle;
using veil::test::Cmd;
using veil::test::nothing_left;
using veil::test::unique_id;
using veil::test::Veil;
using json = nlohmann::json;

constexpr const char* kAnnotation = "org.veil.secrets";

class SecretsTest : public kbstest::KbsTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create containers";
    KbsTest::SetUp();
    start();
    provision();  // demo/*/* for sample evidence with reference values; demo/key/one = "s3cret"
    secret_ = "veil-" + veil::crypto::hex(veil::crypto::random_bytes(12));
    ASSERT_EQ(admin_post("/kbs/v0/resource/demo/key/token", secret_).status, 200);
    use_config(sample_config());
  }
  void TearDown() override {
    ::unsetenv("VEIL_CONFIG");
    KbsTest::TearDown();
  }

  json sample_config() const {
    return {{"kbs", {{"url", url_}}},
            {"attester", {{"backend", "sample"}, {"sample_key", dir_ + "/sample.key"}}}};
  }
  // Writes veil's config and points $VEIL_CONFIG (inherited by veil and veil-attest) at it.
  void use_config(const json& cfg) {
    veil::write_file_atomic(dir_ + "/veil.json", cfg.dump()).value();
    ::setenv("VEIL_CONFIG", (dir_ + "/veil.json").c_str(), 1);
  }
  static Bundle with_secrets(std::vector<std::string> args, const std::string& uris) {
    Bundle b(std::move(args));
    b.config["annotations"][kAnnotation] = uris;
    b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    b.write();
    return b;
  }
  // A private copy of the busybox rootfs, without /run/secrets, as the bundle's root.
  static std::string private_rootfs(Bundle& b) {
    std::string r = b.dir() + "/rootfs";
    EXPECT_EQ(veil::test::sh("cp -a " + veil::test::rootfs() + " " + r + " && rm -rf " + r +
                             "/run/secrets")
                  .code,
              0);
    b.config["root"]["path"] = r;
    b.write();
    return r;
  }
  std::string measure(const Bundle& b) {
    Cmd c = veil_({"measure", "--bundle", b.dir()});
    EXPECT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(c.out.size(), 65u) << c.out;
    return c.out.substr(0, 64);
  }
  void add_reference(const std::string& m) {
    ASSERT_EQ(admin_post("/kbs/v0/reference-values", json{{"add", {m}}}.dump()).status, 200);
  }
  size_t audit_rows() {
    auto r = client().get("/kbs/v0/audit?limit=1000", "", admin());
    json j = json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("audit")) return j["audit"].size();
    return j.is_array() ? j.size() : 0;
  }
  static bool host_mounts_contain(const std::string& needle) {
    auto m = veil::read_file("/proc/self/mountinfo");
    return m && m->find(needle) != std::string::npos;
  }
  static int entries(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return -1;
    int n = 0;
    while (auto* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") n++;
    ::closedir(d);
    return n;
  }
  // A TCP port on 127.0.0.1 that nothing listens on.
  static int closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  Veil veil_;
  std::string secret_;
};

TEST_F(SecretsTest, SampleBackendSecretIsAReadOnlyTmpfsFileOfTheProcessUser) {
  Bundle b =
      with_secrets({"/bin/sh", "-c",
                    "stat -c '%a %u %g %F' /run/secrets /run/secrets/token; "
                    "cat /run/secrets/token; echo; grep ' /run/secrets ' /proc/self/mountinfo;"
                    "touch /run/secrets/new 2>/dev/null && echo writable || echo readonly"},
                   "kbs:///demo/key/token");
  add_reference(measure(b));
  std::string id = unique_id("sec");
  Cmd c = veil_({"run", "--bundle", b.dir(), id});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("500 1000 1000 directory\n400 1000 1000 regular file\n" + secret_ + "\n"),
            std::string::npos)
      << c.out;
  auto line = c.out.substr(c.out.find(" /run/secrets "));
  line = line.substr(0, line.find('\n'));
  EXPECT_NE(line.find(" ro,nosuid,nodev,noexec"), std::string::npos) << line;
  EXPECT_NE(line.find(" - tmpfs "), std::string::npos) << line;
  EXPECT_NE(c.out.find("readonly\n"), std::string::npos) << c.out;
  EXPECT_TRUE(nothing_left(veil_, id, b));
}

// A microVM container (docs/microvm.md): the host's veil attests and fetches at create, the
// plaintext travels with the create request, and the guest's veil mounts it as on a host: the
// same read-only tmpfs file of the process user, in the guest only.
TEST_F(SecretsTest, AMicrovmContainerGetsItsSecretInTheGuest) {
  Bundle b = with_secrets({"/bin/sh", "-c",
                           "stat -c '%a %u %g %F' /run/secrets /run/secrets/token; "
                           "cat /run/secrets/token; echo; uname -r; "
                           "touch /run/secrets/new 2>/dev/null && echo writable || echo readonly"},
                          "kbs:///demo/key/token");
  b.config["annotations"]["org.veil.handler"] = "microvm";
  b.write();
  add_reference(measure(b));
  std::string id = unique_id("vmsec");
  Cmd c = veil_({"run", "--bundle", b.dir(), id});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("500 1000 1000 directory\n400 1000 1000 regular file\n" + secret_ + "\n"),
            std::string::npos)
      << c.out;
  struct utsname u;
  ::uname(&u);
  EXPECT_EQ(c.out.find(std::string(u.release) + "\n"), std::string::npos)
      << "ran on the host's kernel: " << c.out;
  EXPECT_NE(c.out.find("readonly\n"), std::string::npos) << c.out;
  EXPECT_FALSE(host_mounts_contain(secret_));
  EXPECT_TRUE(nothing_left(veil_, id, b));

  // The sandbox's one host process (its monitor) does not keep the plaintext once the guest has
  // it: neither the bytes nor their hex in any of its writable memory.
  b.config["process"]["args"] = {"/bin/sleep", "30"};
  b.write();
  add_reference(measure(b));  // another config, another measurement
  std::string did = unique_id("vmsec");
  Cmd d = veil_({"run", "-d", "--bundle", b.dir(), did});
  ASSERT_EQ(d.code, 0) << d.err;
  int monitor = veil_.state(did).value("pid", 0);
  ASSERT_GT(monitor, 0);
  std::string hex_secret = veil::crypto::hex(secret_);
  auto scan = veil_test::scan_writable_memory(monitor, {secret_, hex_secret});
  EXPECT_GT(scan.scanned, 0u);
  EXPECT_FALSE(scan.found) << "the monitor's memory holds the secret";
  EXPECT_EQ(veil_({"delete", "--force", did}).code, 0);
}

TEST_F(SecretsTest, TwoSecretsAndTheHostSeesNeitherTheMountNorThePlaintext) {
  Bundle b = with_secrets({"/bin/sleep", "30"}, "kbs:///demo/key/token, kbs:///demo/key/one");
  add_reference(measure(b));
  std::string id = unique_id("sec");
  Cmd c = veil_({"create", "--bundle", b.dir(), id});
  ASSERT_EQ(c.code, 0) << c.err;
  int pid = veil_.state(id)["pid"];
  std::string proc = "/proc/" + std::to_string(pid);
  // Inside the container's mount namespace: a tmpfs with both files.
  auto theirs = veil::read_file(proc + "/mountinfo");
  ASSERT_TRUE(theirs);
  EXPECT_NE(theirs->find(" /run/secrets ro,"), std::string::npos) << *theirs;
  EXPECT_EQ(veil::read_file(proc + "/root/run/secrets/token").value_or(""), secret_);
  EXPECT_EQ(veil::read_file(proc + "/root/run/secrets/one").value_or(""), "s3cret");
  // On the host: no such mount, and the mount point on disk is an empty directory.
  EXPECT_FALSE(host_mounts_contain("/run/secrets"));
  EXPECT_EQ(entries(veil::test::rootfs() + "/run/secrets"), 0);
  // The plaintext is on no disk file of the bundle, the rootfs or veil's state.
  Cmd grep = veil::test::sh("grep -r -l -F '" + secret_ + "' " + b.dir() + " " +
                            veil::test::rootfs() + " " + veil_.root());
  EXPECT_EQ(grep.code, 1) << grep.out << grep.err;
  EXPECT_EQ(veil_({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(veil_, id, b));
}

TEST_F(SecretsTest, OwnerIsTheProcessUserThroughTheUserNamespaceMapping) {
  Bundle b = with_secrets({"/bin/sh", "-c", "stat -c '%u %g %a' /run/secrets/token; id -u"},
                          "kbs:///demo/key/token");
  b.config["linux"]["namespaces"].push_back({{"type", "user"}});
  b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  b.write();
  add_reference(measure(b));
  Cmd c = veil_({"run", "--bundle", b.dir(), unique_id("secns")});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "1000 1000 400\n1000\n");

  // Seen from the host, the file belongs to the mapped uid 101000.
  b.config["process"]["args"] = {"/bin/sleep", "30"};
  b.write();
  add_reference(measure(b));
  std::string id = unique_id("secns");
  ASSERT_EQ(veil_({"run", "--detach", "--bundle", b.dir(), id}).code, 0);
  int pid = veil_.state(id)["pid"];
  struct stat st;
  ASSERT_EQ(::stat(("/proc/" + std::to_string(pid) + "/root/run/secrets/token").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 101000u);
  EXPECT_EQ(st.st_gid, 101000u);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  EXPECT_EQ(veil_({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(veil_, id, b));
}

TEST_F(SecretsTest, TpmBackendExtendsPcr23AndTheSecretArrives) {
  kbstest::Swtpm swtpm;
  if (!swtpm.start()) GTEST_SKIP() << "swtpm not available";
  std::string ak;
  {
    auto tpm = veil::attest::TpmAttester::open(swtpm.tcti());
    ASSERT_TRUE(tpm) << tpm.error().str();
    ak = (*tpm)->ak_public_pem().value();
  }
  ASSERT_EQ(admin_post("/kbs/v0/tpm-aks", ak).status, 200);
  ASSERT_EQ(
      admin_post("/kbs/v0/resource-policy", "rules:\n  - resource: 'prod/*/*'\n    tees: [tpm]\n")
          .status,
      200);
  ASSERT_EQ(admin_post("/kbs/v0/resource/prod/db/key", secret_).status, 200);
  std::string log = dir_ + "/tpm/pcr23.log";
  use_config({{"kbs", {{"url", url_}}},
              {"attester", {{"backend", "tpm"}, {"tcti", swtpm.tcti()}, {"event_log", log}}}});
  Bundle b = with_secrets({"/bin/cat", "/run/secrets/key"}, "kbs:///prod/db/key");
  std::string m = measure(b);
  add_reference(m);
  for (int round = 1; round <= 2; round++) {
    Cmd c = veil_({"run", "--bundle", b.dir(), unique_id("sectpm")});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(c.out, secret_);
    // Each sandbox's measurement is extended into PCR 23 and logged.
    EXPECT_EQ(veil::read_file(log).value_or(""), round == 1 ? m + "\n" : m + "\n" + m + "\n");
  }
  // The sample backend is not accepted where the policy asks for tpm evidence.
  use_config(sample_config());
  Cmd refused = veil_({"run", "--bundle", b.dir(), unique_id("sectpm")});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("HTTP 403"), std::string::npos) << refused.err;
}

TEST_F(SecretsTest, ChangedRootfsIsRefusedWithTheKbsReasonAndNothingIsLeft) {
  Bundle b = with_secrets({"/bin/cat", "/run/secrets/token"}, "kbs:///demo/key/token");
  std::string root = private_rootfs(b);
  std::string m = measure(b);
  add_reference(m);
  veil::write_file_atomic(root + "/bin/extra", "#!/bin/sh\necho changed\n", 0755).value();
  std::string changed = measure(b);
  EXPECT_NE(changed, m);
  std::string id = unique_id("secbad");
  Cmd c = veil_({"create", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("container \"" + id + "\": secrets (org.veil.secrets): KBS " + url_ +
                       ": resource demo/key/token: HTTP 403: rule 'demo/*/*': measurement " +
                       changed + " not in reference values"),
            std::string::npos)
      << c.err;
  EXPECT_TRUE(nothing_left(veil_, id, b));
  EXPECT_FALSE(host_mounts_contain(root));
  EXPECT_FALSE(veil::path_exists(root + "/run/secrets")) << "a refused create touched the rootfs";
}

TEST_F(SecretsTest, UnreachableOrSilentKbsFailsClearlyAndLeavesNothing) {
  Bundle b = with_secrets({"/bin/true"}, "kbs:///demo/key/token");
  json cfg = sample_config();
  cfg["kbs"]["url"] = "http://127.0.0.1:" + std::to_string(closed_port());
  use_config(cfg);
  std::string id = unique_id("secdown");
  Cmd c = veil_({"create", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("auth: cannot reach the KBS"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(veil_, id, b));

  // A KBS that accepts the connection and never answers: kbs.timeout bounds the wait.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  cfg["kbs"]["url"] = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  cfg["kbs"]["timeout"] = 1;
  use_config(cfg);
  auto t0 = std::chrono::steady_clock::now();
  Cmd slow = veil_({"create", "--bundle", b.dir(), id});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  EXPECT_EQ(slow.code, 1);
  EXPECT_NE(slow.err.find("attestation did not finish within 1 s (kbs.timeout in " + dir_ +
                          "/veil.json)"),
            std::string::npos)
      << slow.err;
  EXPECT_LT(secs, 4.0);
  EXPECT_TRUE(nothing_left(veil_, id, b));
}

TEST_F(SecretsTest, BadAnnotationConfigOrResourceIsRefusedAndLeavesNothing) {
  struct Case {
    std::string uris;
    std::string config;  // empty: the sample config; "-": no config file
    std::string want;
  } cases[] = {
      {"kbs://kbs.example/demo/key/token", "", "a KBS host in the URI is not supported"},
      {"kbs:///demo/key/token,kbs:///other/key/token", "", "two resources have the tag"},
      {"kbs:///demo/../token", "", "segment \"..\""},
      {"kbs:///demo/key/missing", "", "HTTP 404"},
      {"kbs:///other/key/one", "", "HTTP 403"},
      {"kbs:///demo/key/token", "-", "veil config /nonexistent/veil.json"},
      {"kbs:///demo/key/token", R"({"kbs":{"url":"http://x"},"colour":1})", "colour: unknown key"},
      {"kbs:///demo/key/token", R"({"kbs":{"url":"http://x"}})", "attester.backend is not set"},
  };
  for (const auto& k : cases) {
    if (k.config == "-") {
      ::setenv("VEIL_CONFIG", "/nonexistent/veil.json", 1);
    } else if (!k.config.empty()) {
      use_config(json::parse(k.config));
    } else {
      use_config(sample_config());
    }
    Bundle b = with_secrets({"/bin/true"}, k.uris);
    add_reference(measure(b));
    std::string id = unique_id("secin");
    Cmd c = veil_({"create", "--bundle", b.dir(), id});
    EXPECT_EQ(c.code, 1) << k.uris;
    EXPECT_NE(c.err.find("secrets (org.veil.secrets): "), std::string::npos) << c.err;
    EXPECT_NE(c.err.find(k.want), std::string::npos) << k.uris << ": " << c.err;
    EXPECT_TRUE(nothing_left(veil_, id, b)) << k.uris;
  }
}

TEST_F(SecretsTest, ContainersWithoutTheAnnotationNeverReadTheConfig) {
  veil::write_file_atomic(dir_ + "/broken.json", "this is not JSON").value();
  ::setenv("VEIL_CONFIG", (dir_ + "/broken.json").c_str(), 1);
  Bundle b({"/bin/sh", "-c", "echo plain; ls /run"});
  Cmd c = veil_({"run", "--bundle", b.dir(), unique_id("plain")});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out.substr(0, 6), "plain\n");
  EXPECT_EQ(c.err, "");
}

TEST_F(SecretsTest, AttestByHandPrintsOrWritesTheSecret) {
  Bundle b({"/bin/true"});
  add_reference(measure(b));
  Cmd c = veil_({"attest", "--bundle", b.dir(), "--resource", "kbs:///demo/key/token"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, secret_);
  // --kbs overrides the config's URL.
  json cfg = sample_config();
  cfg["kbs"]["url"] = "http://127.0.0.1:" + std::to_string(closed_port());
  use_config(cfg);
  c = veil_({"attest", "-b", b.dir(), "-r", "demo/key/one", "--kbs", url_});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "s3cret");
  use_config(sample_config());

  std::string out = dir_ + "/token.out";
  c = veil_({"attest", "-b", b.dir(), "-r", "demo/key/token", "--out", out});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "");
  EXPECT_EQ(veil::read_file(out).value_or(""), secret_);
  struct stat st;
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  // An existing --out is refused before anything is attested or released.
  size_t rows = audit_rows();
  c = veil_({"attest", "-b", b.dir(), "-r", "demo/key/token", "--out", out});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("File exists"), std::string::npos) << c.err;
  EXPECT_EQ(audit_rows(), rows);
  // Refused by policy: exit 1 with the reason, no output, no file.
  std::string denied = dir_ + "/denied.out";
  c = veil_({"attest", "-b", b.dir(), "-r", "other/key/one", "--out", denied});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("resource other/key/one: HTTP 403"), std::string::npos) << c.err;
  EXPECT_FALSE(veil::path_exists(denied));
  c = veil_({"attest", "-b", b.dir()});
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.err.find("--resource is required"), std::string::npos) << c.err;
}

TEST_F(SecretsTest, MeasureMatchesVeilKbsAndStaysTheSameAfterDelivery) {
  Bundle b = with_secrets({"/bin/cat", "/run/secrets/token"}, "kbs:///demo/key/token");
  std::string root = private_rootfs(b);
  ASSERT_EQ(veil::test::sh("rm -rf " + root + "/run").code, 0);  // veil will create /run too
  std::string m = measure(b);
  Cmd kbs = veil::test::run({VEIL_KBS_BINARY, "measure", "--bundle", b.dir()});
  ASSERT_EQ(kbs.code, 0) << kbs.err;
  EXPECT_EQ(kbs.out, m + "\n");
  EXPECT_EQ(veil::crypto::hex(veil::attest::measure_bundle(b.dir()).value()), m);
  add_reference(m);
  for (int round = 0; round < 2; round++) {
    Cmd c = veil_({"run", "--bundle", b.dir(), unique_id("secm")});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(c.out, secret_);
    EXPECT_EQ(entries(root + "/run/secrets"), 0);  // the mount point veil made
    EXPECT_EQ(measure(b), m);                      // ... is not part of the measurement
  }
  Cmd bad = veil_({"measure", "--bundle", dir_ + "/no-such-bundle"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("no-such-bundle/config.json"), std::string::npos) << bad.err;
}

}  // namespace secretstest
