// The TDX CC event log: tests/data/tee/tdx/CCEL_data replays to the RTMRs Trustee's eventlog
// tests expect of it. It belongs to none of the three TDX quotes (their RTMRs differ), so the
// verifier path is tested with a self-made quote whose RTMRs are that replay: the log is accepted
// there, refused against the real quotes, and refused when a digest is changed.
#include <gtest/gtest.h>

#include "attest/dcap/verifier.hpp"
#include "dcap_fake.hpp"

namespace veil::attest::dcap {
namespace {

using dcap_test::data;
using dcap_test::prefix;

// Trustee deps/eventlog/src/lib.rs test_rtmr_integrity, case ./test_data/CCEL_data.
constexpr const char* kRtmr0 =
    "2dc712306a963eadb894ad47dbaa17df44814151555aee11cbb843becca88950ffd079664902e6f22c66f7c82135"
    "43f4";
constexpr const char* kRtmr1 =
    "0fa3be56af61208bbd179dc7b124988eb929319154663c539d6f46445ecac2fec287075047ff7bd1922829fec28c"
    "d3cf";

TEST(DcapCcel, ReplaysToTrusteesValues) {
  auto c = replay_ccel(data("tdx/CCEL_data"));
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(crypto::hex(c->rtmr[0]), kRtmr0);
  EXPECT_EQ(crypto::hex(c->rtmr[1]), kRtmr1);
  EXPECT_EQ(c->rtmr[2], std::string(48, '\0'));
  EXPECT_EQ(c->rtmr[3], std::string(48, '\0'));
  ASSERT_EQ(c->events.size(), 5u);  // td_hob, separator, separator, td_payload, td_payload_info
  EXPECT_EQ(c->events[0].mr_index, 1u);
  EXPECT_EQ(c->events[2].mr_index, 2u);
  // The last event's data (4116 bytes, the kernel command line then zeros) ends at 9822; zero
  // padding follows up to 1 MiB.
  EXPECT_EQ(c->length, 9822u);
  // The file function gives the same; replay is deterministic.
  auto f = replay_ccel_file(std::string(VEIL_TEE_DATA) + "/tdx/CCEL_data");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->rtmr, c->rtmr);
  EXPECT_EQ(replay_ccel(data("tdx/CCEL_data"))->rtmr, c->rtmr);
  // Only the used part matters: the same log without padding, or ended by 0xFF.
  std::string log = data("tdx/CCEL_data").substr(0, c->length);
  EXPECT_EQ(replay_ccel(log)->rtmr, c->rtmr);
  EXPECT_EQ(replay_ccel(log + std::string(64, '\xff'))->rtmr, c->rtmr);
}

TEST(DcapCcel, BelongsToNoneOfTheQuotes) {
  std::string r0 = crypto::unhex(kRtmr0).value();
  for (const char* f : {"tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat", "tdx/tdx_quote_6.dat"})
    EXPECT_NE(parse_quote(data(f)).value().td->rtmr[0], r0) << f;
  // So a real quote with this log is refused by the replay check.
  TdxVerifier v({"", dcap_test::kRealAt, ""});
  auto r = v.verify_evidence(tdx_evidence(data("tdx/tdx_quote_4.dat"), data("tdx/CCEL_data")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg.rfind("ccel: RTMR0 replay differs", 0), 0u) << r.error().msg;
}

TEST(DcapCcel, TamperingChangesTheReplay) {
  std::string log = data("tdx/CCEL_data").substr(0, 9822);
  auto good = replay_ccel(log).value();
  // The first TCG_PCR_EVENT2 starts after the 32-byte header and the 40-byte Spec ID event:
  // MR index, type, count, algorithm id (2), then its SHA-384 digest at offset 72 + 14.
  std::string digest = log;
  digest[72 + 14 + 5] ^= 0x10;
  auto changed = replay_ccel(digest);
  ASSERT_TRUE(changed);
  EXPECT_NE(changed->rtmr[0], good.rtmr[0]);
  EXPECT_EQ(changed->rtmr[1], good.rtmr[1]);
  // Retargeting the event to another RTMR moves its contribution.
  std::string index = log;
  index[72] = 3;
  auto moved = replay_ccel(index).value();
  EXPECT_NE(moved.rtmr[0], good.rtmr[0]);
  EXPECT_NE(moved.rtmr[2], good.rtmr[2]);
  // Structural damage is refused.
  for (size_t n : {size_t{0}, size_t{31}, size_t{50}, size_t{72 + 20}, size_t{9822 - 1}}) {
    auto r = replay_ccel(log.substr(0, n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(prefix(r.error()), "ccel") << n << ": " << r.error().msg;
  }
  std::string spec = log;
  spec[32] = 'X';  // "Spec ID Event03"
  EXPECT_FALSE(replay_ccel(spec));
  std::string alg = log;
  alg[72 + 12] = 0x0b;  // SHA-256, which the Spec ID event does not list
  EXPECT_FALSE(replay_ccel(alg));
  std::string mr = log;
  mr[72] = 9;
  EXPECT_EQ(replay_ccel(mr).error().msg, "ccel: event 1 targets MR index 9 (TDX has 0..4)");
}

TEST(DcapCcel, VerifierReplaysTheLogAgainstTheQuote) {
  std::string log = data("tdx/CCEL_data");
  auto replay = replay_ccel(log).value();
  dcap_test::Fake fake;
  dcap_test::TdParams p;
  p.rtmr = replay.rtmr;
  std::string quote = fake.tdx_quote(p);
  TdxVerifier v(fake.options());
  auto ok = v.verify_evidence(tdx_evidence(quote, log));
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(ok->details["ccel_replayed"], true);
  EXPECT_EQ(ok->details["rtmr0"], kRtmr0);
  // Without a log nothing is replayed.
  auto none = v.verify_evidence(tdx_evidence(quote));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->details["ccel_replayed"], false);
  // A changed digest in the second RTMR's events (the td_payload event: a unique digest).
  auto second = replay.events[3];
  ASSERT_EQ(second.mr_index, 2u);  // RTMR1
  size_t at = log.find(second.sha384);
  ASSERT_NE(at, std::string::npos);
  std::string tampered = log;
  tampered[at] ^= 1;
  auto r = v.verify_evidence(tdx_evidence(quote, tampered));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg.rfind("ccel: RTMR1 replay differs", 0), 0u) << r.error().msg;
  // A log that does not parse.
  auto r2 = v.verify_evidence(tdx_evidence(quote, log.substr(0, 100)));
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "ccel");
}

}  // namespace
}  // namespace veil::attest::dcap
