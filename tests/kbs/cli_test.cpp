// The veil-kbs executable end to end: serve, admin, measure, tpm-ak and get-resource --tpm
// against a real swtpm, as an operator would run them.
#include <cstdio>

#include "fixture.hpp"
#include "process.hpp"
#include "swtpm.hpp"

namespace kbstest {

namespace {
// Runs a shell command; returns {exit status, stdout}.
std::pair<int, std::string> sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
}  // namespace

TEST_F(KbsTest, CliEndToEndWithTpm) {
  Swtpm swtpm;
  if (!swtpm.start()) GTEST_SKIP() << "swtpm not available";
  std::string k = VEIL_KBS_BINARY;
  crypto::save_private_pem(admin_key_.get(), dir_ + "/admin.key").value();
  mkdir_all(dir_ + "/bundle/rootfs/bin").value();
  write_file_atomic(dir_ + "/bundle/rootfs/bin/app", "v1", 0755).value();
  write_file_atomic(dir_ + "/bundle/config.json",
                    R"({"process":{"args":["/bin/app"]},"root":{"path":"rootfs"}})")
      .value();
  write_file_atomic(dir_ + "/kbs.yaml", "listen: 127.0.0.1:0\nstate_dir: " + cfg_.state_dir +
                                            "\nadmin_public_key: " + cfg_.admin_public_key + "\n")
      .value();
  write_file_atomic(dir_ + "/policy.yaml", "rules:\n  - resource: 'prod/*/*'\n    tees: [tpm]\n")
      .value();
  write_file_atomic(dir_ + "/secret", "topsecret").value();
  KbsProcess server;
  ASSERT_TRUE(server.start(dir_ + "/kbs.yaml")) << server.banner;
  std::string conn = " --url " + server.url + " --ca " + cfg_.state_dir + "/tls.crt";
  std::string admin = k + " admin" + conn + " --key " + dir_ + "/admin.key ";
  std::string tcti = " --tpm " + swtpm.tcti() + " --tpm-log " + dir_ + "/pcr23.log";

  auto [rc_ak, ak] = sh(k + " tpm-ak --tcti " + swtpm.tcti() + " > " + dir_ + "/ak.pem");
  ASSERT_EQ(rc_ak, 0) << ak;
  auto [rc_m, measurement] = sh(k + " measure --bundle " + dir_ + "/bundle");
  ASSERT_EQ(rc_m, 0) << measurement;
  measurement.pop_back();
  for (std::string cmd :
       {"enroll-ak " + dir_ + "/ak.pem", "add-reference " + measurement,
        "set-policy " + dir_ + "/policy.yaml", "set-resource prod/db/key " + dir_ + "/secret"}) {
    auto [rc, out] = sh(admin + cmd);
    ASSERT_EQ(rc, 0) << cmd << ": " << out;
  }
  auto [rc_get, got] = sh(k + " get-resource" + conn + tcti + " --bundle " + dir_ +
                          "/bundle --path prod/db/key 2>/dev/null");
  EXPECT_EQ(rc_get, 0) << got;
  EXPECT_NE(got.find("topsecret"), std::string::npos) << got;

  // A modified rootfs measures differently: attestation succeeds, the policy refuses.
  write_file_atomic(dir_ + "/bundle/rootfs/bin/app", "v2", 0755).value();
  auto [rc_bad, bad] =
      sh(k + " get-resource" + conn + tcti + " --bundle " + dir_ + "/bundle --path prod/db/key");
  EXPECT_EQ(rc_bad, 1);
  EXPECT_NE(bad.find("403"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("topsecret"), std::string::npos);
  auto [rc_noauth, noauth] = sh(k + " admin" + conn + " --key " + dir_ + "/sample.key audit");
  EXPECT_NE(rc_noauth, 0) << noauth;
}

}  // namespace kbstest

namespace kbstest {

// `veil-kbs verify` on sample evidence: the claims as JSON when it verifies, and the failed
// check named (exit 1) for a wrong signer, a tampered body or report data it does not bind.
TEST_F(KbsTest, VerifyCommandNamesTheFailedCheck) {
  std::string k = VEIL_KBS_BINARY;
  auto key = crypto::ed25519_generate().value();
  std::string pub = crypto::b64url(crypto::ed25519_raw_public(key.get()).value());
  attest::SampleAttester a(std::move(key), std::string(64, 'c'), 4);
  auto rd = attest::report_data("nonce", json{{"kty", "EC"}});
  auto ev = a.evidence(rd).value();
  write_file_atomic(dir_ + "/ev.json", ev.dump()).value();
  std::string base = k + " verify --tee sample --evidence " + dir_ + "/ev.json";

  auto [rc, out] = sh(base + " --trusted-key " + pub + " --report-data " + crypto::hex(rd));
  ASSERT_EQ(rc, 0) << out;
  auto j = json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["claims"]["measurement"], std::string(64, 'c'));
  EXPECT_EQ(j["claims"]["svn"], 4);
  EXPECT_EQ(j["report_data"], crypto::hex(rd));
  EXPECT_EQ(j["report_data_checked"], true);

  auto [rc_rd, out_rd] = sh(base + " --trusted-key " + pub + " --report-data " +
                            crypto::hex(attest::report_data("other", json{{"kty", "EC"}})));
  EXPECT_EQ(rc_rd, 1);
  EXPECT_NE(out_rd.find("report data does not bind"), std::string::npos) << out_rd;

  auto stranger = crypto::ed25519_generate().value();
  auto [rc_key, out_key] = sh(base + " --trusted-key " +
                              crypto::b64url(crypto::ed25519_raw_public(stranger.get()).value()));
  EXPECT_EQ(rc_key, 1);
  EXPECT_NE(out_key.find("not a trusted sample key"), std::string::npos) << out_key;

  ev["svn"] = 9;
  write_file_atomic(dir_ + "/ev.json", ev.dump()).value();
  auto [rc_sig, out_sig] = sh(base + " --trusted-key " + pub);
  EXPECT_EQ(rc_sig, 1);
  EXPECT_NE(out_sig.find("bad signature"), std::string::npos) << out_sig;

  auto [rc_tdx, out_tdx] = sh(k + " verify --tee tdx --evidence " + dir_ + "/ev.json");
  EXPECT_EQ(rc_tdx, 1);
  EXPECT_NE(out_tdx.find("tdx evidence: evidence: format is not veil-tdx-v1"), std::string::npos)
      << out_tdx;
  auto [rc_csv, out_csv] = sh(k + " verify --tee csv --evidence " + dir_ + "/ev.json");
  EXPECT_EQ(rc_csv, 1);
  EXPECT_NE(out_csv.find("unknown TEE 'csv'"), std::string::npos) << out_csv;
  auto [rc_use, out_use] = sh(k + " verify --tee sample");
  EXPECT_EQ(rc_use, 2) << out_use;
}

}  // namespace kbstest

namespace kbstest {

// `veil-kbs verify --tee snp` on a real SEV-SNP report (tests/data/tee/snp, a Milan chip): the
// VCEK from --collateral, AMD's roots from the binary; claims as JSON; a flipped bit in the
// report names the signature; report data it does not carry names the binding.
TEST_F(KbsTest, VerifyCommandOnARealSnpReport) {
  std::string k = VEIL_KBS_BINARY;
  std::string snp = std::string(VEIL_TEE_DATA) + "/snp/";
  std::string report = read_file(snp + "test-report.bin").value();
  mkdir_all(dir_ + "/collateral").value();
  write_file_atomic(dir_ + "/collateral/vcek.der", read_file(snp + "test-vcek.der").value())
      .value();
  std::string base = k + " verify --tee snp --collateral " + dir_ +
                     "/collateral --at 2026-01-01T00:00:00Z --evidence ";
  auto [rc, out] = sh(base + snp + "test-report.bin");
  ASSERT_EQ(rc, 0) << out;
  auto j = json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["claims"]["measurement"], crypto::hex(report.substr(0x90, 48)));
  EXPECT_EQ(j["claims"]["details"]["chip_id"], crypto::hex(report.substr(0x1A0, 64)));
  EXPECT_EQ(j["claims"]["details"]["product"], "Milan");
  EXPECT_EQ(j["report_data"], crypto::hex(report.substr(0x50, 64)));

  auto [rc_rd, out_rd] =
      sh(base + snp + "test-report.bin --report-data " + crypto::hex(std::string(32, '\x01')));
  EXPECT_EQ(rc_rd, 1);
  EXPECT_NE(out_rd.find("report data does not bind"), std::string::npos) << out_rd;

  std::string flipped = report;
  flipped[0x90] ^= 1;  // the measurement
  write_file_atomic(dir_ + "/flipped.bin", flipped).value();
  auto [rc_flip, out_flip] = sh(base + dir_ + "/flipped.bin");
  EXPECT_EQ(rc_flip, 1);
  EXPECT_NE(out_flip.find("snp evidence: signature: report not signed by the VCEK"),
            std::string::npos)
      << out_flip;
  auto [rc_none, out_none] =
      sh(k + " verify --tee snp --at 2026-01-01T00:00:00Z --evidence " + snp + "test-report.bin");
  EXPECT_EQ(rc_none, 1);
  EXPECT_NE(out_none.find("collateral: "), std::string::npos) << out_none;
}

// `veil-kbs verify --tee tdx|sgx` on real DCAP quotes (tests/data/tee): Intel's root from the
// binary, the PCK chain from the quote; with Intel's collateral the TCB status is a claim; one
// flipped bit in the TD report names the quote signature.
TEST_F(KbsTest, VerifyCommandOnRealDcapQuotes) {
  std::string k = VEIL_KBS_BINARY;
  std::string tee = std::string(VEIL_TEE_DATA) + "/";
  std::string at = " --at 2025-11-01T00:00:00Z";
  auto [rc, out] = sh(k + " verify --tee tdx" + at + " --evidence " + tee + "tdx/tdx_quote_6.dat");
  ASSERT_EQ(rc, 0) << out;
  auto j = json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  std::string q = read_file(tee + "tdx/tdx_quote_6.dat").value();
  EXPECT_EQ(j["claims"]["measurement"], crypto::hex(q.substr(48 + 136, 48)));  // MRTD
  EXPECT_EQ(j["claims"]["details"]["tcb_status"], "unknown");
  EXPECT_EQ(j["report_data"], crypto::hex(q.substr(48 + 520, 64)));

  auto [rc_c, out_c] = sh(k + " verify --tee tdx" + at + " --collateral " + tee + "tdx" +
                          " --evidence " + tee + "tdx/tdx_quote_6.dat");
  ASSERT_EQ(rc_c, 0) << out_c;
  EXPECT_EQ(json::parse(out_c)["claims"]["details"]["tcb_status"], "OutOfDate");
  auto [rc_late, out_late] = sh(k + " verify --tee tdx --at 2025-12-01T00:00:00Z --collateral " +
                                tee + "tdx --evidence " + tee + "tdx/tdx_quote_6.dat");
  EXPECT_EQ(rc_late, 1);
  EXPECT_NE(out_late.find("tdx evidence: collateral: tcbInfo expired"), std::string::npos)
      << out_late;

  q[48 + 136] ^= 1;  // MRTD
  write_file_atomic(dir_ + "/flipped.dat", q).value();
  auto [rc_flip, out_flip] =
      sh(k + " verify --tee tdx" + at + " --evidence " + dir_ + "/flipped.dat");
  EXPECT_EQ(rc_flip, 1);
  EXPECT_NE(out_flip.find("tdx evidence: signature: "), std::string::npos) << out_flip;

  auto [rc_sgx, out_sgx] =
      sh(k + " verify --tee sgx" + at + " --evidence " + tee + "sgx/occlum_quote.dat");
  ASSERT_EQ(rc_sgx, 0) << out_sgx;
  std::string sq = read_file(tee + "sgx/occlum_quote.dat").value();
  EXPECT_EQ(json::parse(out_sgx)["claims"]["details"]["mr_enclave"],
            crypto::hex(sq.substr(48 + 64, 32)));
  // An SGX quote is not TDX evidence.
  auto [rc_kind, out_kind] =
      sh(k + " verify --tee tdx" + at + " --evidence " + tee + "sgx/occlum_quote.dat");
  EXPECT_EQ(rc_kind, 1);
  EXPECT_NE(out_kind.find("tdx evidence: quote: this is an SGX quote"), std::string::npos)
      << out_kind;
}

}  // namespace kbstest
