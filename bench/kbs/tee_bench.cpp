// The hardware-TEE half of the veil-kbs benchmark: verifications per second and p50/p99 for each
// TEE kind on one core (the real evidence in tests/data/tee), and the server mode that lets the
// RCAR benchmark run TDX handshakes: `veil-kbs-bench --tdx-test-server CONFIG ROOT.pem` is
// `veil-kbs serve` with the TDX verifier pinned to a self-made root instead of Intel's. Clients
// then sign quotes with the same self-made PKI (attest/dcap/testing.hpp): every check a real
// quote goes through runs, only the root differs. This mode exists in the benchmark binary only.
#include "tee_bench.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "attest/dcap/verifier.hpp"
#include "attest/sample.hpp"
#include "attest/snp/verifier.hpp"
#include "base/file.hpp"
#include "kbs/config.hpp"
#include "kbs/server.hpp"

namespace veil::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kRealDcapAt = 1761955200;  // 2025-11-01: the vectors' PCK chains and collateral
constexpr int64_t kRealSnpAt = 1767225600;   // 2026-01-01: the VCEK is valid

std::string tee_data(const std::string& rel) {
  return read_file(std::string(VEIL_TEE_DATA) + "/" + rel).value();
}

// Pins the calling thread to CPU 0 while it lives.
struct OneCore {
  cpu_set_t before;
  OneCore() {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_getaffinity(0, sizeof before, &before);
    sched_setaffinity(0, sizeof one, &one);
  }
  ~OneCore() { sched_setaffinity(0, sizeof before, &before); }
};

// Runs `verify` for about `secs` on the current (pinned) core.
void time_op(const char* kind, const char* what, const std::function<Result<attest::Claims>()>& op,
             double secs) {
  if (auto first = op(); !first) {
    printf("| %s | %s | refused: %s | | | |\n", kind, what, first.error().str().c_str());
    return;
  }
  std::vector<double> us;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  while (Clock::now() < end) {
    auto a = Clock::now();
    (void)op();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  double total = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(us.begin(), us.end());
  printf("| %s | %s | %zu | %.0f | %.2f | %.2f |\n", kind, what, us.size(), us.size() / total,
         us[us.size() / 2] / 1000, us[std::min(us.size() - 1, us.size() * 99 / 100)] / 1000);
  fflush(stdout);
}

void time_verifier(const char* kind, const char* what, attest::Verifier& v, const json& ev,
                   double secs) {
  time_op(
      kind, what, [&] { return v.verify_evidence(ev); }, secs);
}

}  // namespace

void verifier_table(double secs) {
  OneCore pinned;
  printf("| TEE | evidence | verifications | per second | p50 ms | p99 ms |\n");
  printf("| --- | --- | ---: | ---: | ---: | ---: |\n");

  auto sample_key = crypto::ed25519_generate().value();
  std::string raw = crypto::ed25519_raw_public(sample_key.get()).value();
  attest::SampleVerifier sample({raw});
  attest::SampleAttester sample_att(std::move(sample_key), std::string(64, 'a'));
  time_verifier("sample", "Ed25519 statement", sample,
                sample_att.evidence(std::string(32, 'r')).value(), secs);

  attest::snp::SnpVerifier snp({.at = kRealSnpAt});
  time_verifier(
      "snp", "real Milan report + VCEK (chain to the pinned ARK)", snp,
      attest::snp::evidence_from(tee_data("snp/test-report.bin"), tee_data("snp/test-vcek.der")),
      secs);

  attest::dcap::TdxVerifier tdx({.at = kRealDcapAt});
  time_verifier("tdx", "real quote v4 (PCK chain in the quote)", tdx,
                attest::dcap::tdx_evidence(tee_data("tdx/tdx_quote_4.dat")), secs);
  json q4 = attest::dcap::tdx_evidence(tee_data("tdx/tdx_quote_4.dat"));
  time_op(
      "tdx", "real quote v4, a new verifier each time (PCK chain never cached)",
      [&] { return attest::dcap::TdxVerifier({.at = kRealDcapAt}).verify_evidence(q4); }, secs);
  time_verifier("tdx", "real quote v5", tdx,
                attest::dcap::tdx_evidence(tee_data("tdx/tdx_quote_5.dat")), secs);
  attest::dcap::TdxVerifier tdx_coll(
      {.collateral_dir = std::string(VEIL_TEE_DATA) + "/tdx", .at = kRealDcapAt});
  time_verifier("tdx", "real quote v4 + Intel collateral (TCB status)", tdx_coll,
                attest::dcap::tdx_evidence(tee_data("tdx/tdx_quote_6.dat")), secs);
  attest::dcap::SgxVerifier sgx({.at = kRealDcapAt});
  time_verifier("sgx", "real Occlum quote v3", sgx,
                attest::dcap::sgx_evidence(tee_data("sgx/occlum_quote.dat")), secs);
}

void tpm_verifier_row(attest::TpmAttester& tpm, double secs) {
  auto ak = crypto::public_from_pem(tpm.ak_public_pem().value());
  auto ev = tpm.evidence(std::string(32, 'r'));
  if (!ak || !ev) return;
  std::vector<crypto::Pkey> aks;
  aks.push_back(std::move(*ak));
  attest::TpmVerifier v(std::move(aks));
  OneCore pinned;
  printf("\n| TEE | evidence | verifications | per second | p50 ms | p99 ms |\n");
  printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
  time_verifier("tpm", "swtpm quote over PCR 23 + event log, one core", v, *ev, secs);
}

int tdx_test_server(const std::string& config, const std::string& root_pem_file) {
  auto cfg = kbs::Config::load(config);
  if (!cfg) return fprintf(stderr, "%s\n", cfg.error().str().c_str()), 1;
  auto server = kbs::Server::create(*cfg);
  if (!server) return fprintf(stderr, "%s\n", server.error().str().c_str()), 1;
  attest::dcap::Options o;
  o.root_pem = read_file(root_pem_file).value();
  if (auto ok = (*server)->add_verifier(std::make_unique<attest::dcap::TdxVerifier>(o)); !ok)
    return fprintf(stderr, "%s\n", ok.error().str().c_str()), 1;
  auto port = (*server)->bind();
  if (!port) return fprintf(stderr, "%s\n", port.error().str().c_str()), 1;
  printf("veil-kbs listening on http://%s:%d\n", cfg->host.c_str(), *port);
  fflush(stdout);
  (*server)->run();  // until SIGTERM
  return 0;
}

}  // namespace veil::bench
