// detect() and TsmAttester against a directory playing the machine (Paths::root): which evidence
// kinds are reported and why the others are absent, and the whole configfs-tsm path from report
// data to evidence JSON with the test as the kernel (tsm_fake.hpp), on reports and quotes from
// real hardware (tests/data/tee). The real kernel and hardware path is untested on this host.
#include <dirent.h>
#include <gtest/gtest.h>

#include <map>

#include "attest/crypto.hpp"
#include "attest/tsm/attester.hpp"
#include "attest/tsm/cert_table.hpp"
#include "attest/tsm/detect.hpp"
#include "attest/tsm/sev_guest.hpp"
#include "tsm_fake.hpp"

namespace {

using namespace veil;
using namespace veil::attest::tsm;
using fake::FakeKernel;

std::string data(const std::string& rel) {
  return read_file(std::string(VEIL_TEE_DATA) + "/" + rel).value();
}

class TsmMachine : public ::testing::Test {
 protected:
  void SetUp() override { paths.root = fake::temp_dir(); }
  void TearDown() override { (void)remove_all(paths.root); }
  void make_dir(const std::string& rel) { ASSERT_TRUE(mkdir_all(paths.root + rel)); }
  void make_file(const std::string& rel, std::string_view text = "") {
    auto slash = rel.rfind('/');
    make_dir(rel.substr(0, slash));
    ASSERT_TRUE(write_file_atomic(paths.root + rel, text));
  }
  std::map<std::string, Capability> caps(bool probe = true) {
    std::map<std::string, Capability> m;
    for (auto& c : detect(paths, probe)) m[c.kind] = c;
    return m;
  }
  // Entries left in the report directory.
  size_t listing_size() {
    size_t n = 0;
    if (DIR* d = ::opendir(paths.tsm_report().c_str())) {
      while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
      ::closedir(d);
    }
    return n;
  }
  Paths paths;
};

TEST_F(TsmMachine, NothingHere) {
  auto c = caps();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_FALSE(c["snp"].available);
  EXPECT_EQ(c["snp"].reason, "no /sys/kernel/config (configfs not available); no /dev/sev-guest");
  EXPECT_FALSE(c["tdx"].available);
  EXPECT_NE(c["tdx"].reason.find("no /dev/tdx_guest"), std::string::npos);
  EXPECT_FALSE(c["tpm"].available);
  EXPECT_EQ(c["tpm"].reason, "no /dev/tpmrm0 or /dev/tpm0");
  EXPECT_TRUE(c["sample"].available);
  EXPECT_EQ(c["sample"].reason, "INSECURE, development only");
}

TEST_F(TsmMachine, ConfigfsWithoutTsm) {
  make_dir("/sys/kernel/config");
  auto c = caps();
  EXPECT_NE(c["snp"].reason.find("no configfs-tsm under /sys/kernel/config"), std::string::npos)
      << c["snp"].reason;
}

TEST_F(TsmMachine, ProviderFileSaysSevGuest) {
  make_file("/sys/kernel/config/tsm/report/other/provider", "sev_guest\n");
  auto c = caps();
  EXPECT_TRUE(c["snp"].available);
  EXPECT_EQ(c["snp"].source, "configfs-tsm (sev_guest)");
  EXPECT_FALSE(c["tdx"].available);
  EXPECT_EQ(c["tdx"].reason, "configfs-tsm provider is \"sev_guest\"; no /dev/tdx_guest");
}

TEST_F(TsmMachine, ProbeEntryIsRemoved) {
  make_dir("/sys/kernel/config/tsm/report");
  auto c = caps();  // mkdir works in a plain directory, but nothing fills the entry
  EXPECT_FALSE(c["snp"].available);
  EXPECT_NE(c["snp"].reason.find("has no provider attribute"), std::string::npos)
      << c["snp"].reason;
  EXPECT_TRUE(is_dir(paths.tsm_report()));
  auto again = caps(/*probe=*/false);
  EXPECT_NE(again["snp"].reason.find("provider not probed"), std::string::npos);
  EXPECT_EQ(::rmdir(paths.tsm_report().c_str()), 0) << "the probe entry was left behind";
}

TEST_F(TsmMachine, DevicesAndTpm) {
  make_file("/dev/tdx_guest");
  make_file("/dev/tpm0");
  auto c = caps();
  EXPECT_TRUE(c["tdx"].available);
  EXPECT_EQ(c["tdx"].source, "/dev/tdx_guest");
  EXPECT_FALSE(c["snp"].available);
  EXPECT_TRUE(c["tpm"].available);
  EXPECT_EQ(c["tpm"].source, "/dev/tpm0");
  make_file("/dev/tpmrm0");
  EXPECT_EQ(caps()["tpm"].source, "/dev/tpmrm0");
  auto a = TsmAttester::open({.paths = paths});
  ASSERT_TRUE(a) << a.error().str();
  EXPECT_EQ((*a)->tee(), "tdx");
  EXPECT_EQ((*a)->source(), TsmAttester::Source::kDevice);
  // A plain file is no TDX device: the ioctl fails, and says which one.
  auto ev = (*a)->evidence(std::string(32, 'x'));
  ASSERT_FALSE(ev);
  EXPECT_EQ(ev.error().msg.rfind("tdx-guest: TDX_CMD_GET_REPORT0", 0), 0u) << ev.error().msg;
}

TEST_F(TsmMachine, OpenSaysWhatIsMissing) {
  auto none = TsmAttester::open({.paths = paths});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().msg.find("no TEE guest interface (snp: "), std::string::npos);
  EXPECT_NE(none.error().msg.find("; tdx: "), std::string::npos);
  make_file("/sys/kernel/config/tsm/report/other/provider", "sev_guest\n");
  auto wrong = TsmAttester::open({.tee = "tdx", .paths = paths});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().msg.find("tdx: configfs-tsm provider is \"sev_guest\""),
            std::string::npos)
      << wrong.error().msg;
  EXPECT_FALSE(TsmAttester::open({.tee = "sgx", .paths = paths}));
}

TEST_F(TsmMachine, UnsupportedProvider) {
  make_file("/sys/kernel/config/tsm/report/other/provider", "arm_cca_guest\n");
  auto a = TsmAttester::open({.paths = paths});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().msg.rfind("tsm: provider \"arm_cca_guest\" is not supported", 0), 0u)
      << a.error().msg;
}

TEST_F(TsmMachine, SnpEvidenceThroughConfigfs) {
  make_file("/sys/kernel/config/tsm/report/other/provider", "sev_guest\n");
  std::string vcek = data("snp/test-vcek.der");
  FakeKernel k;
  k.auxblob = build_cert_table({{kVcekGuid, vcek}, {kAskGuid, "ask"}, {kArkGuid, "ark"}}, 0x4000);
  std::string hw = data("snp/test-report.bin");
  k.make_outblob = [&](const std::string& in) {  // a real report with this request's data
    std::string r = hw;
    r.replace(kSnpReportDataOffset, 64, in);
    return r;
  };
  auto a = TsmAttester::open({.paths = paths, .hook = k.hook()});
  ASSERT_TRUE(a) << a.error().str();
  EXPECT_EQ((*a)->tee(), "snp");
  EXPECT_EQ((*a)->source(), TsmAttester::Source::kConfigfs);
  std::string rd = crypto::sha256("binding");
  auto ev = (*a)->evidence(rd);
  ASSERT_TRUE(ev) << ev.error().str();
  EXPECT_EQ(k.last_inblob, rd + std::string(32, '\0'));
  EXPECT_EQ((*ev)["format"], "veil-snp-v1");
  std::string report = crypto::unb64url((*ev)["report"].get<std::string>()).value();
  EXPECT_EQ(report.substr(kSnpReportDataOffset, 64), rd + std::string(32, '\0'));
  EXPECT_EQ(crypto::unb64url((*ev)["vcek"].get<std::string>()).value(), vcek);
  EXPECT_EQ(listing_size(), 1u) << "only the entry that was there before";
}

TEST_F(TsmMachine, TdxEvidenceThroughConfigfs) {
  make_file("/sys/kernel/config/tsm/report/other/provider", "tdx_guest\n");
  make_file("/sys/firmware/acpi/tables/data/CCEL", "EVENTLOG");
  std::string hw = data("tdx/tdx_quote_4.dat");
  FakeKernel k;
  k.provider = "tdx_guest";
  k.make_outblob = [&](const std::string& in) {
    std::string q = hw;
    q.replace(568, 64, in);
    return q;
  };
  auto a = TsmAttester::open({.tee = "tdx", .paths = paths, .hook = k.hook()});
  ASSERT_TRUE(a) << a.error().str();
  auto ev = (*a)->evidence(std::string(32, '\x42'));
  ASSERT_TRUE(ev) << ev.error().str();
  EXPECT_EQ((*ev)["format"], "veil-tdx-v1");
  EXPECT_EQ(crypto::unb64url((*ev)["cc_eventlog"].get<std::string>()).value(), "EVENTLOG");

  // A report that does not carry this request's data is refused.
  k.make_outblob = [&](const std::string&) { return hw; };
  auto stale = (*a)->evidence(std::string(32, '\x42'));
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().msg.find("REPORTDATA is not the report data"), std::string::npos);
  // The provider changed under us (a different guest driver now): refused, named.
  k.provider = "sev_guest";
  auto changed = (*a)->evidence(std::string(32, '\x42'));
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().msg, "tsm: provider \"sev_guest\" gives snp evidence, not tdx");
  k.provider = "future_guest";
  auto unknown = (*a)->evidence(std::string(32, '\x42'));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().msg, "tsm: provider \"future_guest\" is not supported");
}

}  // namespace
