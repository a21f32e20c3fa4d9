// Admin API authentication, policy validation, persistence, crash safety, HTTPS.
#include <atomic>

#include "fixture.hpp"
#include "process.hpp"

namespace kbstest {

TEST_F(KbsTest, AdminCallsWithoutOrWithWrongKeyRefused) {
  start();
  auto c = client();
  auto wrong = crypto::ed25519_generate().value();
  int64_t now = jose::now_seconds();
  auto expired = jose::jwt_sign(admin_key_.get(), {{"iat", now - 100}, {"exp", now - 1}}).value();
  auto no_exp = jose::jwt_sign(admin_key_.get(), {{"iat", now}}).value();
  for (const std::string& tok : {std::string(), kbs::admin_token(wrong.get()).value(), expired,
                                 no_exp, std::string("x.y.z")}) {
    EXPECT_EQ(c.post("/kbs/v0/resource/demo/key/one", "v", "", tok).status, 401);
    EXPECT_EQ(c.post("/kbs/v0/resource-policy", R"({"rules":[]})", "", tok).status, 401);
    EXPECT_EQ(c.get("/kbs/v0/resource-policy", "", tok).status, 401);
    EXPECT_EQ(c.post("/kbs/v0/reference-values", R"({"add":[]})", "", tok).status, 401);
    EXPECT_EQ(c.get("/kbs/v0/audit", "", tok).status, 401);
  }
  // An attestation token is not an admin token.
  provision();
  auto key = jose::generate_p256().value();
  auto a = attester();
  auto token = c.attest(a, key.get()).value();
  EXPECT_EQ(c.post("/kbs/v0/resource/demo/key/one", "evil", "", token).status, 401);
  EXPECT_EQ(c.get("/kbs/v0/resource/demo/key/one", "", token).status, 200);
  auto data = c.get_resource("demo/key/one", key.get());
  EXPECT_EQ(data.value(), "s3cret");
}

TEST_F(KbsTest, InvalidPolicyRejectedOldPolicyKept) {
  start();
  provision();
  for (const char* bad :
       {"rules: 3", R"({"rules":[{"resource":"a/*/*"}]})",
        R"({"rules":[{"resource":"a/*/*","tees":["sample"],"bogus":1}]})",
        R"({"rules":[{"resource":"a/*/*","tees":["x"],"measurements":["ab"]}]})", "{{{"}) {
    EXPECT_EQ(admin_post("/kbs/v0/resource-policy", bad).status, 400) << bad;
  }
  auto key = jose::generate_p256().value();
  auto c = client();
  auto a = attester();
  ASSERT_TRUE(c.attest(a, key.get()));
  EXPECT_EQ(c.get_resource("demo/key/one", key.get()).value(), "s3cret");
  EXPECT_EQ(admin_post("/kbs/v0/reference-values", R"({"add":["XYZ"]})").status, 400);
}

TEST_F(KbsTest, StateSurvivesRestartAndIsEncryptedAtRest) {
  start();
  provision();
  stop();
  auto db = read_file(cfg_.state_dir + "/kbs.db").value();
  auto wal = path_exists(cfg_.state_dir + "/kbs.db-wal")
                 ? read_file(cfg_.state_dir + "/kbs.db-wal").value()
                 : "";
  EXPECT_EQ(db.find("s3cret"), std::string::npos);
  EXPECT_EQ(wal.find("s3cret"), std::string::npos);
  start();
  {
    auto key = jose::generate_rsa(2048).value();
    auto c = client();
    auto a = attester();
    ASSERT_TRUE(c.attest(a, key.get()));
    EXPECT_EQ(c.get_resource("demo/key/one", key.get()).value(), "s3cret");
  }
  stop();
  // A different KEK cannot open the resources.
  write_file_atomic(cfg_.kek_file, std::string(32, 'k'), 0600).value();
  auto store = kbs::Store::open(cfg_.state_dir + "/kbs.db", cfg_.kek_file).value();
  EXPECT_FALSE(store->get_resource("demo/key/one"));
}

// SIGKILL the server while an admin client writes resources; every acknowledged write survives.
TEST_F(KbsTest, SigkillDuringAdminWritesLosesNothingAcknowledged) {
  std::string config = dir_ + "/kbs.json";
  json cfg = {{"listen", "127.0.0.1:0"},
              {"state_dir", cfg_.state_dir},
              {"tls", {{"enabled", false}}},
              {"kek_file", cfg_.kek_file},
              {"admin_public_key", cfg_.admin_public_key},
              {"threads", 4}};
  write_file_atomic(config, cfg.dump()).value();
  std::vector<std::string> acked;
  {
    KbsProcess p;
    ASSERT_TRUE(p.start(config)) << p.banner;
    kbs::Client c({p.url, ""});
    std::string tok = admin();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
    std::atomic<bool> killed{false};
    std::thread killer([&] {
      std::this_thread::sleep_until(deadline);
      p.kill_now(SIGKILL);
      killed = true;
    });
    for (int i = 0; i < 100000 && !killed; i++) {
      std::string path = "crash/blob/r" + std::to_string(i);
      auto r = c.post("/kbs/v0/resource/" + path, std::string(1000 + i, char('a' + i % 26)), "",
                      tok, "application/octet-stream");
      if (r.status == 200) acked.push_back(path);
    }
    killer.join();
  }
  ASSERT_GT(acked.size(), 5u);
  auto store = kbs::Store::open(cfg_.state_dir + "/kbs.db", cfg_.kek_file).value();
  for (size_t i = 0; i < acked.size(); i++) {
    auto data = store->get_resource(acked[i]);
    ASSERT_TRUE(data) << acked[i] << ": " << data.error().str();
    ASSERT_TRUE(data->has_value()) << acked[i] << " lost";
    EXPECT_EQ(**data, std::string(1000 + i, char('a' + i % 26)));
  }
  store.reset();
  // And the restarted server serves them.
  KbsProcess p2;
  ASSERT_TRUE(p2.start(config)) << p2.banner;
  kbs::Client c2({p2.url, ""});
  EXPECT_EQ(c2.post("/kbs/v0/resource/crash/blob/after", "x", "", admin(), "text/plain").status,
            200);
  RecordProperty("acknowledged_writes", static_cast<int>(acked.size()));
}

TEST_F(KbsTest, HttpsSelfSignedCertificateVerifiedByCa) {
  std::string config = dir_ + "/kbs.yaml";
  write_file_atomic(config, "listen: 127.0.0.1:0\nstate_dir: " + cfg_.state_dir +
                                "\nadmin_public_key: " + cfg_.admin_public_key + "\n")
      .value();
  KbsProcess p;
  ASSERT_TRUE(p.start(config)) << p.banner;
  EXPECT_TRUE(p.url.starts_with("https://127.0.0.1:")) << p.url;
  EXPECT_NE(p.banner.find("SHA-256 fingerprint "), std::string::npos);
  kbs::Client verified({p.url, cfg_.state_dir + "/tls.crt"});
  EXPECT_EQ(verified.get("/metrics").status, 200);
  // A client that trusts another CA refuses the connection.
  kbs::Client other({p.url, "/etc/ssl/certs/ca-certificates.crt"});
  EXPECT_EQ(other.get("/metrics").status, 0);
}

}  // namespace kbstest
