// Helpers for the DCAP tests: the test data, temporary collateral directories, and the self-made
// PKI of src/attest/dcap/testing.hpp at a fixed time: certificates valid kNotBefore..kNotAfter,
// collateral issued kIssue, next update kNext, verification at kAt.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "attest/crypto.hpp"
#include "attest/dcap/testing.hpp"
#include "attest/dcap/verifier.hpp"
#include "attest/x509.hpp"

namespace dcap_test {

using nlohmann::json;

inline constexpr int64_t kAt = 1800000000;  // 2027-01-15T08:00:00Z
inline constexpr const char* kIssue = "2027-01-01T00:00:00Z";
inline constexpr const char* kNext = "2027-02-01T00:00:00Z";
// 2025-11-01T00:00:00Z: inside the real collateral's validity (tests/data/tee/tdx).
inline constexpr int64_t kRealAt = 1761955200;

inline std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
inline std::string data(const std::string& rel) {
  return read(std::string(VEIL_TEE_DATA) + "/" + rel);
}
inline std::string zeros(size_t n) {
  return std::string(n, '\0');
}
inline std::string bytes(size_t n, char c) {
  return std::string(n, c);
}
inline std::string unhex(std::string_view h) {
  return veil::crypto::unhex(h).value();
}

inline void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("dcap_fake: ") + what);
}

// The self-made PKI (src/attest/dcap/testing.hpp) with the tests' fixed verification time.
using veil::attest::dcap::testing::PckTcb;
using veil::attest::dcap::testing::pem;
using veil::attest::dcap::testing::QeParams;
using veil::attest::dcap::testing::TdParams;
struct Fake : veil::attest::dcap::testing::Pki {
  using Pki::Pki;
  veil::attest::dcap::Options options(const std::string& dir = "") const {
    return Pki::options(dir, kAt);
  }
};
// Intel's TD QE (tdx_quote_6.dat's QE report): what QeParams defaults to.
inline const std::string kTdQeMrSigner =
    unhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
inline const std::string kTdQeAttributes = unhex("1500000000000000e700000000000000");

// TDX tcbInfo like Intel's (tests/data/tee/tdx/tcbInfo.json) with the fake dates.
inline json tcb_info() {
  json whole = json::parse(data("tdx/tcbInfo.json"));
  json t = whole["tcbInfo"];
  t["issueDate"] = kIssue;
  t["nextUpdate"] = kNext;
  return t;
}
inline json qe_identity() {
  json whole = json::parse(data("tdx/enclaveIdentity.json"));
  json q = whole["enclaveIdentity"];
  q["issueDate"] = kIssue;
  q["nextUpdate"] = kNext;
  return q;
}

// A fresh directory under the test temp dir.
inline std::string temp_dir(const std::string& name) {
  std::string dir = testing::TempDir() + "dcap_" + name + "_XXXXXX";
  check(mkdtemp(dir.data()) != nullptr, "mkdtemp");
  return dir;
}
inline void write(const std::string& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  check(f.good(), "write");
}

// A collateral directory signed by `f`.
inline std::string collateral_dir(const Fake& f, const json& tcb, const json& qe,
                                  const std::string& name = "collateral") {
  std::string dir = temp_dir(name);
  write(dir + "/tcbInfo.json", f.signed_file("tcbInfo", tcb));
  write(dir + "/enclaveIdentity.json", f.signed_file("enclaveIdentity", qe));
  write(dir + "/tcb_signing_chain.pem", f.signing_chain_pem());
  return dir;
}

inline std::string prefix(const veil::Error& e) {
  return e.msg.substr(0, e.msg.find(':'));
}

}  // namespace dcap_test
