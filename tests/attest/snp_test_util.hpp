// Helpers shared by the SEV-SNP tests: the real evidence, a scratch collateral directory (on the
// project's veil_test::TempDir), and reading a verifier's answer.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "../unit/temp_dir.hpp"
#include "attest/attest.hpp"
#include "base/file.hpp"

namespace snp_test {

inline std::string data(const std::string& name) {
  return veil::read_file(std::string(VEIL_TEE_DATA) + "/snp/" + name).value();
}

// "accepted", or the refusal's reason.
inline std::string err(const veil::Result<veil::attest::Claims>& c) {
  return c ? std::string("accepted") : c.error().str();
}

inline bool starts(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// A collateral directory under /tmp, removed at the end of the test.
struct TempDir {
  veil_test::TempDir dir;
  std::string path = dir.path();
  void put(const std::string& name, const std::string& bytes) const {
    ASSERT_TRUE(veil::write_file_atomic(path + "/" + name, bytes));
  }
};

}  // namespace snp_test
