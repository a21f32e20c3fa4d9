// A verifier keeps PCK chains and collateral it has checked (cache.hpp). What must not change:
// a kept check never outlives its certificates or the collateral's nextUpdate, a changed byte is
// checked afresh, and collateral replaced on disk counts at the next quote.
#include <gtest/gtest.h>

#include "dcap_fake.hpp"

namespace {

using namespace veil::attest::dcap;
using dcap_test::Fake;
using dcap_test::kAt;
using dcap_test::PckTcb;
using dcap_test::prefix;
using veil::attest::dcap::testing::kNotAfter;
using veil::attest::dcap::testing::kNotBefore;

Options at(const Fake& f, int64_t when, const std::string& dir = "") {
  Options o = f.options(dir);
  o.at = when;
  return o;
}

TEST(DcapCache, AKeptChainNeverOutlivesItsCertificates) {
  Fake fake;
  std::string quote = fake.tdx_quote();
  auto root = veil::x509::from_pem(fake.root_pem()).value();
  Caches caches;
  ASSERT_TRUE(verify_quote(quote, kTeeTdx, root[0].get(), at(fake, kAt), &caches));
  ASSERT_TRUE(verify_quote(quote, kTeeTdx, root[0].get(), at(fake, kAt), &caches));
  EXPECT_EQ(caches.chains.size(), 1u);  // one chain, checked once, used twice
  for (int64_t when : {kNotAfter + 1, kNotBefore - 1}) {
    auto r = verify_quote(quote, kTeeTdx, root[0].get(), at(fake, when), &caches);
    ASSERT_FALSE(r) << when;
    EXPECT_EQ(prefix(r.error()), "pck-chain") << r.error().msg;
  }
  // Inside the window again: still accepted.
  EXPECT_TRUE(verify_quote(quote, kTeeTdx, root[0].get(), at(fake, kAt), &caches));
}

TEST(DcapCache, AChangedChainIsCheckedAfresh) {
  Fake fake;
  std::string quote = fake.tdx_quote();
  auto root = veil::x509::from_pem(fake.root_pem()).value();
  Caches caches;
  ASSERT_TRUE(verify_quote(quote, kTeeTdx, root[0].get(), at(fake, kAt), &caches));
  // One character of the PCK certificate's signature (its PEM text) changed after the cache has
  // the chain: refused, not served from the cache.
  size_t end = quote.find("-----END CERTIFICATE-----");
  ASSERT_NE(end, std::string::npos);
  std::string bad = quote;
  bad[end - 6] = bad[end - 6] == 'A' ? 'B' : 'A';
  auto r = verify_quote(bad, kTeeTdx, root[0].get(), at(fake, kAt), &caches);
  ASSERT_FALSE(r);
  EXPECT_EQ(prefix(r.error()), "pck-chain") << r.error().msg;
  // A quote from another platform (another PKI, same verifier): refused at the root.
  Fake other;
  auto r2 = verify_quote(other.tdx_quote(), kTeeTdx, root[0].get(), at(fake, kAt), &caches);
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "root") << r2.error().msg;
}

TEST(DcapCache, CollateralReplacedOnDiskCountsAtTheNextQuote) {
  PckTcb t;
  t.pce_svn = 13;
  Fake fake(t);
  std::string dir =
      dcap_test::collateral_dir(fake, dcap_test::tcb_info(), dcap_test::qe_identity());
  TdxVerifier v(fake.options(dir));
  std::string quote = fake.tdx_quote();
  auto first = v.verify_evidence(tdx_evidence(quote));
  ASSERT_TRUE(first) << first.error().msg;
  EXPECT_NE(first->details["tcb_status"], "Revoked");
  // The operator drops in new collateral that revokes the platform's level.
  auto revoked = dcap_test::tcb_info();
  revoked["tcbLevels"][0]["tcbStatus"] = "Revoked";
  dcap_test::write(dir + "/tcbInfo.json", fake.signed_file("tcbInfo", revoked));
  auto r = v.verify_evidence(tdx_evidence(quote));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "tcb: the platform's TCB status is Revoked");
}

TEST(DcapCache, KeptCollateralNeverOutlivesNextUpdate) {
  PckTcb t;
  t.pce_svn = 13;
  Fake fake(t);
  std::string dir =
      dcap_test::collateral_dir(fake, dcap_test::tcb_info(), dcap_test::qe_identity());
  auto root = veil::x509::from_pem(fake.root_pem()).value();
  std::string quote = fake.tdx_quote();
  Caches caches;
  ASSERT_TRUE(verify_quote(quote, kTeeTdx, root[0].get(), at(fake, kAt, dir), &caches));
  EXPECT_EQ(caches.collateral.size(), 1u);
  int64_t after_next = *parse_time(dcap_test::kNext) + 1;
  auto r = verify_quote(quote, kTeeTdx, root[0].get(), at(fake, after_next, dir), &caches);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, std::string("collateral: tcbInfo expired at ") + dcap_test::kNext);
}

}  // namespace
