// A real veil-kbs on 127.0.0.1: in-process (thread) or as a child process, with an admin key, a
// trusted sample key and helpers to attest and call the API over real HTTP.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <functional>
#include <thread>

#include "attest/sample.hpp"
#include "base/file.hpp"
#include "kbs/client.hpp"
#include "kbs/jose.hpp"
#include "kbs/server.hpp"

namespace kbstest {

using namespace veil;
using attest::json;

inline const std::string kMeasurement(64, 'a');
inline const std::string kOtherMeasurement(64, 'b');

class KbsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/veil-kbs-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    admin_key_ = crypto::ed25519_generate().value();
    sample_key_ = crypto::ed25519_generate().value();
    crypto::save_public_pem(admin_key_.get(), dir_ + "/admin.pub").value();
    crypto::save_private_pem(sample_key_.get(), dir_ + "/sample.key").value();
    cfg_.host = "127.0.0.1";
    cfg_.port = 0;
    cfg_.state_dir = dir_ + "/state";
    cfg_.tls = false;
    cfg_.admin_public_key = dir_ + "/admin.pub";
    cfg_.kek_file = dir_ + "/kek";
    cfg_.sample_trusted_keys = {
        crypto::b64url(crypto::ed25519_raw_public(sample_key_.get()).value())};
    cfg_.threads = 8;
  }
  void TearDown() override {
    stop();
    remove_all(dir_).value();
  }

  // `prepare` runs on the server before it serves (e.g. add_verifier).
  void start(const std::function<void(kbs::Server&)>& prepare = {}) {
    auto s = kbs::Server::create(cfg_);
    ASSERT_TRUE(s) << s.error().str();
    server_ = std::move(*s);
    if (prepare) prepare(*server_);
    auto port = server_->bind();
    ASSERT_TRUE(port) << port.error().str();
    url_ = "http://127.0.0.1:" + std::to_string(*port);
    thread_ = std::thread([this] { server_->run(); });
  }
  void stop() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  kbs::Client client() { return kbs::Client({url_, ""}); }
  std::string admin() { return kbs::admin_token(admin_key_.get()).value(); }
  kbs::HttpReply admin_post(const std::string& path, const std::string& body) {
    return client().post(path, body, "", admin(), "application/octet-stream");
  }
  // Policy allowing sample evidence with reference values for demo/*/*; one resource; one ref.
  void provision() {
    ASSERT_EQ(admin_post("/kbs/v0/resource-policy",
                         "rules:\n"
                         "  - resource: 'demo/*/*'\n"
                         "    tees: [sample]\n"
                         "    min_svn: 1\n"
                         "  - resource: 'other/*/*'\n"
                         "    tees: [tpm]\n")
                  .status,
              200);
    ASSERT_EQ(admin_post("/kbs/v0/resource/demo/key/one", "s3cret").status, 200);
    ASSERT_EQ(admin_post("/kbs/v0/resource/other/key/one", "other").status, 200);
    ASSERT_EQ(admin_post("/kbs/v0/reference-values", json{{"add", {kMeasurement}}}.dump()).status,
              200);
  }
  attest::SampleAttester attester(const std::string& m = kMeasurement, int64_t svn = 1,
                                  bool debug = false) {
    return attest::SampleAttester(crypto::load_private_pem(dir_ + "/sample.key").value(), m, svn,
                                  debug);
  }
  // POST /auth; returns {cookie, nonce}.
  static std::pair<std::string, std::string> auth(kbs::Client& c) {
    auto r = c.post("/kbs/v0/auth", R"({"version":"0.1.0","tee":"sample","extra-params":""})");
    EXPECT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body, nullptr, false);
    return {c.last_set_cookie(), j.is_object() ? j.value("nonce", "") : ""};
  }
  // The /attest body for this nonce and key, with evidence bound to (nonce, bind_jwk).
  json attest_body(const std::string& nonce, const json& jwk, const json& bind_jwk) {
    auto a = attester();
    auto ev = a.evidence(attest::report_data(nonce, bind_jwk)).value();
    return {{"tee-pubkey", jwk}, {"tee-evidence", ev}};
  }

  std::string dir_;
  crypto::Pkey admin_key_, sample_key_;
  kbs::Config cfg_;
  std::unique_ptr<kbs::Server> server_;
  std::thread thread_;
  std::string url_;
};

}  // namespace kbstest
