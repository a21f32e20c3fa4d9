// veil-kbs benchmark: full RCAR handshakes (auth + attest, sample backend) and resource fetches
// with 1/8/64 concurrent client *processes* against `veil-kbs serve` on 127.0.0.1; RCAR with TDX
// quotes (tee_bench.cpp); verifications per second per TEE kind; measurement hashing throughput;
// TPM (swtpm) quote latency if swtpm is installed.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../../tests/kbs/process.hpp"
#include "../../tests/kbs/swtpm.hpp"
#include "attest/measure.hpp"
#include "attest/sample.hpp"
#include "attest/tpm.hpp"
#include "base/file.hpp"
#include "kbs/client.hpp"
#include "kbs/jose.hpp"
#include "tee_bench.hpp"

using namespace veil;
using attest::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  size_t ops = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0;
  size_t errors = 0;
};

// Child loop: handshakes (fetch=false) or resource GETs (fetch=true) for `secs`; writes
// latencies (microseconds, uint32) to fd; exit status = error count (capped).
using MakeAttester = std::function<std::unique_ptr<attest::Attester>()>;

[[noreturn]] void child(const std::string& url, const std::string& ca, const MakeAttester& make,
                        bool fetch, double secs, int fd) {
  kbs::Client c({url, ca});
  auto attester = make();
  attest::Attester& a = *attester;
  auto key = jose::generate_p256().value();
  int errors = 0;
  if (fetch && !c.attest(a, key.get())) _exit(100);
  std::vector<uint32_t> lat;
  auto end = Clock::now() + std::chrono::duration<double>(secs);
  while (Clock::now() < end && lat.size() < 1000000) {
    auto t0 = Clock::now();
    Result<std::string> r;
    if (fetch) {
      r = c.get_resource("bench/key/one", key.get());
    } else {
      auto k = jose::generate_p256().value();
      r = c.attest(a, k.get());
    }
    if (!r) {
      if (errors == 0) fprintf(stderr, "bench client: %s\n", r.error().str().c_str());
      if (++errors > 50) break;
    }
    lat.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
  }
  ssize_t n = write(fd, lat.data(), lat.size() * sizeof(uint32_t));
  (void)n;
  _exit(std::min(errors, 99));
}

Stats run(const std::string& url, const std::string& ca, const MakeAttester& make, int clients,
          bool fetch, double secs) {
  std::vector<std::pair<pid_t, std::string>> kids;
  auto t0 = Clock::now();
  for (int i = 0; i < clients; i++) {
    char tmpl[] = "/tmp/veil-kbs-bench-lat-XXXXXX";
    int fd = mkstemp(tmpl);
    pid_t pid = fork();
    if (pid == 0) child(url, ca, make, fetch, secs, fd);
    close(fd);
    kids.emplace_back(pid, tmpl);
  }
  Stats s;
  std::vector<uint32_t> all;
  for (auto& [pid, file] : kids) {
    int status = 0;
    waitpid(pid, &status, 0);
    s.errors += WIFEXITED(status) ? WEXITSTATUS(status) : 1000;
    auto data = read_file(file).value_or("");
    unlink(file.c_str());
    size_t n = data.size() / sizeof(uint32_t);
    const auto* p = reinterpret_cast<const uint32_t*>(data.data());
    all.insert(all.end(), p, p + n);
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  s.ops = all.size();
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    s.p50_ms = all[all.size() / 2] / 1000.0;
    s.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)] / 1000.0;
  }
  return s;
}

}  // namespace

void print(const char* transport, const char* workload, int clients, const Stats& s) {
  printf("| %s | %s | %d | %zu | %.0f | %.2f | %.2f | %zu |\n", transport, workload, clients, s.ops,
         s.ops / s.seconds, s.p50_ms, s.p99_ms, s.errors);
  fflush(stdout);
}

void setup(const std::string& url, const std::string& ca, EVP_PKEY* admin_key, const char* tee) {
  kbs::Client admin({url, ca});
  std::string tok = kbs::admin_token(admin_key).value();
  admin.post("/kbs/v0/resource-policy",
             std::string(R"({"rules":[{"resource":"bench/*/*","tees":[")") + tee +
                 R"("],"measurements":"any"}]})",
             "", tok, "text/plain");
  admin.post("/kbs/v0/resource/bench/key/one", std::string(64, 'k'), "", tok, "text/plain");
}

// RCAR with TDX evidence: the server is this binary in --tdx-test-server mode.
void tdx_rcar(const std::string& dir, const std::string& admin_pub, EVP_PKEY* admin_key,
              double secs) {
  attest::dcap::testing::Pki pki;  // forked clients inherit it: they sign with the same PKI
  write_file_atomic(dir + "/tdx-root.pem", pki.root_pem()).value();
  json cfg = {{"listen", "127.0.0.1:0"},
              {"state_dir", dir + "/state-tdx"},
              {"tls", {{"enabled", false}}},
              {"admin_public_key", admin_pub},
              {"threads", 80}};
  write_file_atomic(dir + "/kbs-tdx.json", cfg.dump()).value();
  char self[4096] = "";
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  kbstest::KbsProcess server;
  if (!server.start("", {std::string(self, n), "--tdx-test-server", dir + "/kbs-tdx.json",
                         dir + "/tdx-root.pem"})) {
    fprintf(stderr, "tdx test server did not start: %s\n", server.banner.c_str());
    return;
  }
  setup(server.url, "", admin_key, "tdx");
  MakeAttester make = [&pki] { return std::make_unique<attest::dcap::testing::TdxAttester>(pki); };
  for (int clients : {1, 8})
    print("HTTP", "RCAR handshake (tdx)", clients, run(server.url, "", make, clients, false, secs));
  server.kill_now(SIGTERM);
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--tdx-test-server")
    return bench::tdx_test_server(argv[2], argv[3]);
  double secs = argc > 1 ? std::clamp(atof(argv[1]), 0.2, 60.0) : 3.0;
  char tmpl[] = "/tmp/veil-kbs-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto admin_key = crypto::ed25519_generate().value();
  auto sample_key = crypto::ed25519_generate().value();
  crypto::save_public_pem(admin_key.get(), dir + "/admin.pub").value();
  crypto::save_private_pem(sample_key.get(), dir + "/sample.key").value();
  printf("| transport | workload | clients | ops | ops/s | p50 ms | p99 ms | errors |\n");
  printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (bool tls : {false, true}) {
    std::string state = dir + (tls ? "/state-tls" : "/state");
    json cfg = {{"listen", "127.0.0.1:0"},
                {"state_dir", state},
                {"tls", {{"enabled", tls}}},
                {"admin_public_key", dir + "/admin.pub"},
                {"sample_trusted_keys",
                 {crypto::b64url(crypto::ed25519_raw_public(sample_key.get()).value())}},
                {"threads", 80}};
    write_file_atomic(dir + "/kbs.json", cfg.dump()).value();
    kbstest::KbsProcess server;
    if (!server.start(dir + "/kbs.json")) {
      fprintf(stderr, "server did not start: %s\n", server.banner.c_str());
      return 1;
    }
    std::string url = server.url, ca = tls ? state + "/tls.crt" : "";
    setup(url, ca, admin_key.get(), "sample");
    std::string sample_pem = dir + "/sample.key";
    MakeAttester make = [sample_pem] {
      return std::make_unique<attest::SampleAttester>(crypto::load_private_pem(sample_pem).value(),
                                                      std::string(64, 'a'));
    };
    for (bool fetch : {false, true})
      for (int clients : {1, 8, 64}) {
        print(tls ? "HTTPS" : "HTTP", fetch ? "resource fetch (token)" : "RCAR handshake (sample)",
              clients, run(url, ca, make, clients, fetch, secs));
      }
    server.kill_now(SIGTERM);
    unlink((dir + "/kbs.json").c_str());
  }
  tdx_rcar(dir, dir + "/admin.pub", admin_key.get(), secs);

  printf(
      "\nVerifications on one core (verify_evidence: everything but the report-data binding;\n"
      "real evidence from tests/data/tee at a time its certificates were valid; the DCAP\n"
      "verifiers keep a PCK chain or collateral they have checked, so repeating one quote\n"
      "measures the warm path, and the 'new verifier' row the first quote of a platform):\n\n");
  bench::verifier_table(std::min(secs, 2.0));

  // Measurement hashing: a 256 MiB tree of 4 MiB files (page cache warm after the first pass).
  std::string tree = dir + "/rootfs";
  mkdir_all(tree).value();
  std::string blob(4 << 20, 'x');
  for (int i = 0; i < 64; i++) write_file_atomic(tree + "/f" + std::to_string(i), blob).value();
  (void)attest::rootfs_digest(tree);
  auto t0 = Clock::now();
  (void)attest::rootfs_digest(tree);
  double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  printf("\nmeasurement hashing (rootfs Merkle digest, 256 MiB in page cache): %.2f GB/s\n",
         0.268435456 / sec);

  kbstest::Swtpm swtpm;
  if (swtpm.start()) {
    auto tpm = attest::TpmAttester::open(swtpm.tcti()).value();
    (void)tpm->extend(crypto::sha256("sandbox"));
    std::vector<double> ms;
    for (int i = 0; i < 50; i++) {
      auto q0 = Clock::now();
      (void)tpm->evidence(crypto::sha256(std::to_string(i)));
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - q0).count());
    }
    std::sort(ms.begin(), ms.end());
    printf("tpm quote via swtpm (evidence generation, 50 runs): p50 %.2f ms, p99 %.2f ms\n", ms[25],
           ms[49]);
    bench::tpm_verifier_row(*tpm, std::min(secs, 2.0));
  }
  (void)remove_all(dir);
  return 0;
}
