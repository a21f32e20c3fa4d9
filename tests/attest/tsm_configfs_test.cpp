// configfs-tsm as veil drives it, against a directory where the test plays the kernel
// (tsm_fake.hpp): the order of steps, the inblob bytes, the generation check and its bounded
// retries, and that the report entry is always removed. The real kernel is not involved: this
// host has no SEV-SNP or TDX guest, so configfs-tsm itself is untested here.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "attest/tsm/configfs.hpp"
#include "tsm_fake.hpp"

namespace {

using namespace veil;
using namespace veil::attest::tsm;
using fake::FakeKernel;

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

class TsmConfigfs : public ::testing::Test {
 protected:
  void SetUp() override { root = fake::temp_dir(); }
  void TearDown() override { (void)remove_all(root); }
  std::string root;
  FakeKernel k;
  std::string inblob = std::string(32, '\x11') + std::string(32, '\0');
};

TEST_F(TsmConfigfs, OneRequestInItsOwnEntry) {
  k.auxblob = "CERTS";
  ConfigfsTsm tsm(root, k.hook());
  auto r = tsm.generate(inblob);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->provider, "sev_guest");
  EXPECT_EQ(r->outblob, "REPORT(" + inblob + ")");
  EXPECT_EQ(r->auxblob, "CERTS");
  EXPECT_EQ(k.last_inblob, inblob);  // exactly the 64 bytes, one write
  ASSERT_EQ(k.entries.size(), 1u);
  std::string name = k.entries[0].substr(k.entries[0].rfind('/') + 1);
  EXPECT_EQ(name.rfind("veil-", 0), 0u);
  EXPECT_EQ(k.steps, (std::vector<std::string>{"mkdir " + name, "write inblob " + name,
                                               "read outblob " + name, "rmdir " + name}));
  EXPECT_TRUE(listing(root).empty()) << "the entry must be removed";
}

TEST_F(TsmConfigfs, EntriesAreUnique) {
  ConfigfsTsm tsm(root, k.hook());
  ASSERT_TRUE(tsm.generate(inblob));
  ASSERT_TRUE(tsm.generate(inblob));
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_NE(k.entries[0], k.entries[1]);
}

TEST_F(TsmConfigfs, NoAuxblobForTdx) {
  k.provider = "tdx_guest";
  auto r = ConfigfsTsm(root, k.hook()).generate(inblob);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->provider, "tdx_guest");
  EXPECT_EQ(r->auxblob, "");
}

TEST_F(TsmConfigfs, PrivlevelExplicitOrFloor) {
  k.privlevel_floor = "0";
  auto r = ConfigfsTsm(root, k.hook()).generate(inblob, 2);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(k.last_privlevel, "2\n");
  k.last_privlevel.clear();
  ASSERT_TRUE(ConfigfsTsm(root, k.hook()).generate(inblob));
  EXPECT_EQ(k.last_privlevel, "") << "floor 0: privlevel is left alone";
  k.privlevel_floor = "1";  // e.g. an SNP guest under an SVSM
  ASSERT_TRUE(ConfigfsTsm(root, k.hook()).generate(inblob));
  EXPECT_EQ(k.last_privlevel, "1\n");
}

TEST_F(TsmConfigfs, ConcurrentWriterIsRetriedInANewEntry) {
  k.concurrent_writes = 1;
  auto r = ConfigfsTsm(root, k.hook()).generate(inblob);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(k.entries.size(), 2u);
  EXPECT_TRUE(listing(root).empty());
}

TEST_F(TsmConfigfs, PersistentConcurrentWriterIsAnError) {
  k.concurrent_writes = 100;
  auto r = ConfigfsTsm(root, k.hook(), 3).generate(inblob);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("tsm: generation of "), std::string::npos) << r.error().msg;
  EXPECT_NE(r.error().msg.find("went from 0 to 2, expected 1"), std::string::npos);
  EXPECT_NE(r.error().msg.find("another process wrote to the entry"), std::string::npos);
  EXPECT_NE(r.error().msg.find("gave up after 3 attempts"), std::string::npos);
  EXPECT_EQ(k.entries.size(), 3u);
  EXPECT_TRUE(listing(root).empty()) << "every entry removed";
}

TEST_F(TsmConfigfs, ErrorsNameTheStepAndStillRemoveTheEntry) {
  k.create_inblob = false;
  auto r = ConfigfsTsm(root, k.hook()).generate(inblob);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "tsm: write inblob");
  EXPECT_EQ(r.error().err, ENOENT);
  EXPECT_EQ(r.error().str(), "tsm: write inblob: No such file or directory");
  EXPECT_EQ(k.entries.size(), 1u) << "not retried";
  EXPECT_TRUE(listing(root).empty());

  FakeKernel empty_report;
  empty_report.make_outblob = [](const std::string&) { return std::string(); };
  auto e = ConfigfsTsm(root, empty_report.hook()).generate(inblob);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().msg, "tsm: read outblob: empty");
  EXPECT_TRUE(listing(root).empty());
}

TEST_F(TsmConfigfs, BadInputAndMissingRoot) {
  auto short_blob = ConfigfsTsm(root, k.hook()).generate("abc");
  ASSERT_FALSE(short_blob);
  EXPECT_NE(short_blob.error().msg.find("inblob must be 64 bytes"), std::string::npos);
  auto missing = ConfigfsTsm(root + "/nope").generate(inblob);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().msg, "tsm: " + root + "/nope");
}

TEST(TsmGeneration, Parse) {
  EXPECT_EQ(parse_generation("0\n").value(), 0u);
  EXPECT_EQ(parse_generation("18446744073709551615\n").value(), ~0ul);
  EXPECT_FALSE(parse_generation("18446744073709551616"));
  EXPECT_FALSE(parse_generation(""));
  EXPECT_FALSE(parse_generation("-1"));
  EXPECT_FALSE(parse_generation("1x"));
}

}  // namespace
