// Intel DCAP quotes: the real SGX v3 and TDX v4/v5 quotes of tests/data/tee verify to Intel's
// pinned root; their claims equal the bytes at the documented offsets (and what Trustee's tests
// expect of tdx_quote_4.dat); any single-bit change, truncation, trailing data, wrong version or
// TEE type, or a foreign root is refused with the name of the failed check.
#include <gtest/gtest.h>

#include "attest/dcap/verifier.hpp"
#include "dcap_fake.hpp"

namespace veil::attest::dcap {
namespace {

using dcap_test::data;
using dcap_test::kRealAt;
using dcap_test::prefix;

Options real(std::string dir = "") {
  return {std::move(dir), kRealAt, ""};
}

std::string hex_at(const std::string& b, size_t at, size_t n) {
  return crypto::hex(b.substr(at, n));
}

// The DER of the last certificate of a PEM text.
std::string last_der(std::string_view pem) {
  auto certs = x509::from_pem(pem).value();
  return x509::der(certs.back().get());
}

TEST(DcapRoot, PinnedRootIsIntelsAndTheQuotesRoot) {
  std::string pinned = last_der(intel_sgx_root_pem());
  // google/go-tdx-guest verify/trusted_root.pem, copied unchanged (PROVENANCE.md).
  EXPECT_EQ(pinned, last_der(data("sgx/intel_sgx_root_ca.pem")));
  EXPECT_EQ(crypto::hex(crypto::sha256(pinned)),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  for (const char* f : {"sgx/occlum_quote.dat", "tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat",
                        "tdx/tdx_quote_6.dat"}) {
    auto q = parse_quote(data(f));
    ASSERT_TRUE(q) << f << ": " << q.error().msg;
    EXPECT_EQ(last_der(q->pck_chain.substr(0, q->pck_chain.find_last_not_of('\0') + 1)), pinned)
        << f;
  }
}

TEST(DcapQuote, ParsesTheRealQuotes) {
  auto sgx = parse_quote(data("sgx/occlum_quote.dat")).value();
  EXPECT_EQ(sgx.version, 3);
  EXPECT_EQ(sgx.tee_type, kTeeSgx);
  EXPECT_EQ(sgx.body_type, kBodySgx);
  EXPECT_EQ(sgx.signed_part.size(), 48u + 384);
  EXPECT_EQ(sgx.length, 4733u);
  EXPECT_EQ(sgx.qe_auth_data.size(), 32u);

  auto v4 = parse_quote(data("tdx/tdx_quote_4.dat")).value();
  EXPECT_EQ(v4.version, 4);
  EXPECT_EQ(v4.body_type, kBodyTd10);
  EXPECT_EQ(v4.signed_part.size(), 48u + 584);

  auto v5 = parse_quote(data("tdx/tdx_quote_5.dat")).value();
  EXPECT_EQ(v5.version, 5);
  EXPECT_EQ(v5.body_type, kBodyTd15);
  EXPECT_EQ(v5.signed_part.size(), 48u + 6 + 648);
  EXPECT_EQ(v5.td->tee_tcb_svn2.size(), 16u);

  // tdx_quote_6.dat is a v4 quote (TD report 1.0) in a 5006-byte buffer: 70 zero bytes follow it.
  std::string six = data("tdx/tdx_quote_6.dat");
  auto v6 = parse_quote(six).value();
  EXPECT_EQ(v6.version, 4);
  EXPECT_EQ(v6.length, 4936u);
  EXPECT_EQ(six.size(), 5006u);
}

TEST(DcapTdx, QuoteV4VerifiesWithTrusteesExpectedClaims) {
  std::string q = data("tdx/tdx_quote_4.dat");
  TdxVerifier v(real());
  auto c = v.verify_evidence(tdx_evidence(q));
  ASSERT_TRUE(c) << c.error().msg;
  // Trustee deps/verifier/src/tdx/claims.rs parse_tdx_claims expects these for this quote.
  EXPECT_EQ(c->measurement,
            "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d4"
            "20483a9ce5f031");
  EXPECT_EQ(c->details["rtmr0"],
            "e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef"
            "0c59f496b288");
  EXPECT_EQ(c->details["rtmr1"],
            "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf523"
            "15fcdca3a596");
  EXPECT_EQ(c->details["rtmr2"], std::string(96, '0'));
  EXPECT_EQ(c->details["tee_tcb_svn"], "03000500000000000000000000000000");
  EXPECT_EQ(c->details["td_attributes"], "0100001000000000");
  EXPECT_EQ(c->details["xfam"], "e742060000000000");
  EXPECT_EQ(c->details["mr_seam"],
            "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d"
            "0c5a5363c656");
  EXPECT_EQ(c->details["report_data"],
            "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c873"
            "82f3a5f85b45c8a28fee1d3bdb38342bf96671501429");
  EXPECT_EQ(c->details["mr_config_id"], std::string(96, '0'));
  EXPECT_TRUE(c->debug);  // TD_ATTRIBUTES byte 0 = 0x01: TUD.DEBUG (Trustee: "debug": true)
  EXPECT_EQ(c->svn, 0);
  EXPECT_EQ(c->tee, "tdx");
  EXPECT_EQ(c->details["quote_version"], 4);
  EXPECT_EQ(c->details["tcb_status"], "unknown");
  EXPECT_EQ(c->details["fmspc"], "50806f000000");  // the PCK certificate's SGX extension
  EXPECT_EQ(c->details["ccel_replayed"], false);
  EXPECT_EQ(c->report_data, q.substr(48 + 520, 64));
}

TEST(DcapTdx, QuoteV5AndPaddedV4VerifyWithClaimsFromTheirOffsets) {
  TdxVerifier v(real());
  // v5: 48-byte header, 6-byte body descriptor, TD report 1.5 body from offset 54.
  std::string q5 = data("tdx/tdx_quote_5.dat");
  auto c5 = v.verify_evidence(tdx_evidence(q5));
  ASSERT_TRUE(c5) << c5.error().msg;
  EXPECT_EQ(c5->measurement, hex_at(q5, 54 + 136, 48));
  EXPECT_EQ(c5->measurement.substr(0, 16), "dfba221b48a22af8");
  EXPECT_EQ(c5->details["rtmr0"], hex_at(q5, 54 + 328, 48));
  EXPECT_EQ(c5->details["rtmr3"], hex_at(q5, 54 + 472, 48));
  EXPECT_EQ(c5->details["mr_signer_seam"], hex_at(q5, 54 + 64, 48));
  EXPECT_EQ(c5->details["mr_owner"], hex_at(q5, 54 + 232, 48));
  EXPECT_EQ(c5->details["mr_owner_config"], hex_at(q5, 54 + 280, 48));
  EXPECT_EQ(c5->details["tee_tcb_svn"], "05010200000000000000000000000000");
  EXPECT_EQ(c5->details["quote_version"], 5);
  EXPECT_EQ(c5->details["fmspc"], "90c06f000000");
  EXPECT_FALSE(c5->debug);  // TD_ATTRIBUTES 0000001000000000: only SEPT_VE_DISABLE
  EXPECT_EQ(c5->report_data, q5.substr(54 + 520, 64));

  std::string q6 = data("tdx/tdx_quote_6.dat");
  auto c6 = v.verify_evidence(tdx_evidence(q6));
  ASSERT_TRUE(c6) << c6.error().msg;
  EXPECT_EQ(c6->measurement, hex_at(q6, 48 + 136, 48));
  EXPECT_EQ(c6->details["rtmr2"], hex_at(q6, 48 + 424, 48));
  EXPECT_EQ(c6->details["tee_tcb_svn"], "05030200000000000000000000000000");
  EXPECT_EQ(c6->details["xfam"], "e702060000000000");
  EXPECT_EQ(c6->details["fmspc"], "00a06d080000");
  EXPECT_EQ(c6->details["quote_version"], 4);
}

TEST(DcapSgx, OcclumQuoteVerifiesAndBindsItsReportData) {
  std::string q = data("sgx/occlum_quote.dat");
  SgxVerifier v(real());
  auto c = v.verify_evidence(sgx_evidence(q));
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->tee, "sgx");
  EXPECT_EQ(c->measurement, "8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68");
  EXPECT_EQ(c->measurement, hex_at(q, 48 + 64, 32));
  EXPECT_EQ(c->details["mr_signer"], hex_at(q, 48 + 128, 32));
  EXPECT_EQ(c->details["attributes"], "0700000000000000e700000000000000");
  EXPECT_TRUE(c->debug);  // ATTRIBUTES.FLAGS = 0x07: INIT | DEBUG | MODE64BIT
  EXPECT_EQ(c->details["misc_select"], "01000000");
  EXPECT_EQ(c->details["isv_prod_id"], 0);
  EXPECT_EQ(c->details["isv_svn"], 0);
  EXPECT_EQ(c->svn, 0);
  EXPECT_EQ(c->details["cpu_svn"], "06060c0cffff00000000000000000000");
  EXPECT_EQ(c->details["fmspc"], "00606a000000");
  EXPECT_EQ(c->details["quote_version"], 3);
  EXPECT_EQ(c->details["tcb_status"], "unknown");
  // Its report data is "test" and zeros: the base class's binding accepts exactly that.
  std::string expected = "test" + dcap_test::zeros(28);
  EXPECT_TRUE(v.verify(sgx_evidence(q), expected));
  auto other = v.verify(sgx_evidence(q), "tesT" + dcap_test::zeros(28));
  EXPECT_FALSE(other);
}

// Flips `bits` bits spread over [from, from + len) one at a time (all of them when `bits` is
// 8 * len); each must be refused by `check`.
void flips(const std::string& quote, size_t from, size_t len, const std::string& check,
           bool tdx = true, int bits = 48) {
  TdxVerifier tv(real());
  SgxVerifier sv(real());
  for (int i = 0; i < bits; i++) {
    size_t bit =
        static_cast<size_t>(bits) >= 8 * len
            ? static_cast<size_t>(i)
            : (static_cast<size_t>(i) * 8 * len / bits + static_cast<size_t>(i) * 3) % (8 * len);
    std::string q = quote;
    q[from + bit / 8] ^= static_cast<char>(1 << (bit % 8));
    auto r = tdx ? tv.verify_evidence(tdx_evidence(q)) : sv.verify_evidence(sgx_evidence(q));
    ASSERT_FALSE(r) << check << ": byte " << from + bit / 8 << " bit " << bit % 8 << " accepted";
    EXPECT_EQ(prefix(r.error()), check) << "byte " << from + bit / 8 << ": " << r.error().msg;
  }
}

struct Layout {
  size_t body, body_len, sig, ak, qe_report, qe_sig, pck_begin, pck_len;
};

Layout layout(const std::string& q) {
  auto p = parse_quote(q).value();
  Layout l{};
  l.body = p.signed_part.size() - (p.td ? p.td->raw.size() : 384);
  l.body_len = p.signed_part.size() - l.body;
  l.sig = p.signed_part.size() + 4;
  l.ak = l.sig + 64;
  l.qe_report = l.ak + 64 + (p.version == 3 ? 0 : 6);
  l.qe_sig = l.qe_report + 384;
  // The base64 body of the first (PCK) certificate of the PEM chain.
  size_t begin = q.find("-----BEGIN CERTIFICATE-----\n") + 28;
  l.pck_begin = begin;
  l.pck_len = q.find("\n-----END CERTIFICATE-----", begin) - begin;
  return l;
}

TEST(DcapTdx, SingleBitFlipsAreRefusedByTheRightCheck) {
  for (const char* f : {"tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat"}) {
    SCOPED_TRACE(f);
    std::string q = data(f);
    Layout l = layout(q);
    flips(q, l.body, l.body_len, "signature");
    flips(q, 28, 20, "signature", true, 16);  // the header's user data
    flips(q, l.sig, 64, "signature");
    flips(q, l.ak, 64, "qe-binding");
    flips(q, l.qe_report, 384, "qe-report");
    flips(q, l.qe_sig, 64, "qe-report");
    flips(q, l.qe_sig + 64 + 2, 32, "qe-binding", true, 16);  // QE auth data
    flips(q, l.pck_begin, l.pck_len, "pck-chain", true, 96);
    // Every bit of the PCK block's last base64 characters (padding, unused bits) and END line.
    flips(q, l.pck_begin + l.pck_len - 8, 8 + 26, "pck-chain", true, 8 * 34);
  }
}

TEST(DcapSgx, SingleBitFlipsAreRefusedByTheRightCheck) {
  std::string q = data("sgx/occlum_quote.dat");
  Layout l = layout(q);
  flips(q, l.body, l.body_len, "signature", false);
  flips(q, l.sig, 64, "signature", false);
  flips(q, l.ak, 64, "qe-binding", false);
  flips(q, l.qe_report, 384, "qe-report", false);
  flips(q, l.qe_sig, 64, "qe-report", false);
  flips(q, l.pck_begin, l.pck_len, "pck-chain", false, 96);
}

TEST(DcapTdx, TruncatedQuotesAreRefusedAsQuote) {
  std::string q = data("tdx/tdx_quote_5.dat");
  TdxVerifier v(real());
  for (size_t n : {size_t{0}, size_t{1}, size_t{47}, size_t{48}, size_t{53}, size_t{54},
                   size_t{54 + 647}, size_t{54 + 648}, size_t{54 + 648 + 4}, size_t{54 + 648 + 100},
                   size_t{54 + 648 + 4 + 134}, size_t{2000}, q.size() - 1}) {
    auto r = v.verify_evidence(tdx_evidence(q.substr(0, n)));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(prefix(r.error()), "quote") << n << ": " << r.error().msg;
  }
}

TEST(DcapTdx, TrailingBytesOtherThanZeroPaddingAreRefused) {
  std::string q = data("tdx/tdx_quote_4.dat");
  TdxVerifier v(real());
  EXPECT_TRUE(v.verify_evidence(tdx_evidence(q + std::string(100, '\0'))));
  auto r = v.verify_evidence(tdx_evidence(q + std::string(99, '\0') + "x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(prefix(r.error()), "quote") << r.error().msg;
  EXPECT_NE(r.error().msg.find("trailing"), std::string::npos);
  // A signature data length that claims more than the quote holds.
  std::string longer = q;
  longer[48 + 584] = static_cast<char>(longer[48 + 584] + 1);
  auto r2 = v.verify_evidence(tdx_evidence(longer + std::string(10, '\0')));
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "quote") << r2.error().msg;
}

TEST(DcapTdx, WrongVersionTeeTypeOrKindIsRefused) {
  std::string q = data("tdx/tdx_quote_4.dat");
  TdxVerifier tv(real());
  SgxVerifier sv(real());
  auto with = [&](size_t at, char c) {
    std::string b = q;
    b[at] = c;
    return tv.verify_evidence(tdx_evidence(b));
  };
  for (auto r : {with(0, 3), with(0, 6), with(4, 0), with(2, 3)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(prefix(r.error()), "quote") << r.error().msg;
  }
  auto sgx_to_tdx = tv.verify_evidence(tdx_evidence(data("sgx/occlum_quote.dat")));
  ASSERT_FALSE(sgx_to_tdx);
  EXPECT_EQ(sgx_to_tdx.error().msg.rfind("quote: this is an SGX quote", 0), 0u)
      << sgx_to_tdx.error().msg;
  auto tdx_to_sgx = sv.verify_evidence(sgx_evidence(q));
  ASSERT_FALSE(tdx_to_sgx);
  EXPECT_EQ(prefix(tdx_to_sgx.error()), "quote") << tdx_to_sgx.error().msg;
  // The evidence format names the kind too.
  auto fmt = tv.verify_evidence(sgx_evidence(q));
  ASSERT_FALSE(fmt);
  EXPECT_EQ(prefix(fmt.error()), "evidence");
  // v5 with a body type that is not a TD report.
  std::string v5 = data("tdx/tdx_quote_5.dat");
  v5[48] = 1;
  auto bad_type = tv.verify_evidence(tdx_evidence(v5));
  ASSERT_FALSE(bad_type);
  EXPECT_EQ(prefix(bad_type.error()), "quote");
}

TEST(DcapRoot, AForeignRootIsRefusedBothWays) {
  dcap_test::Fake fake;
  // Intel's quote against a self-made pinned root.
  TdxVerifier self_rooted({"", kRealAt, fake.root_pem()});
  auto r = self_rooted.verify_evidence(tdx_evidence(data("tdx/tdx_quote_4.dat")));
  ASSERT_FALSE(r);
  EXPECT_EQ(prefix(r.error()), "root") << r.error().msg;
  // A self-made quote against Intel's pinned root.
  TdxVerifier intel({"", dcap_test::kAt, ""});
  auto r2 = intel.verify_evidence(tdx_evidence(fake.tdx_quote()));
  ASSERT_FALSE(r2);
  EXPECT_EQ(prefix(r2.error()), "root") << r2.error().msg;
  // The self-made quote against its own root passes (the test chain is sound).
  TdxVerifier own(fake.options());
  auto ok = own.verify_evidence(tdx_evidence(fake.tdx_quote()));
  EXPECT_TRUE(ok) << ok.error().msg;
}

// Intel has issued its root key in two certificates (to 2033 and to 2049); a quote carrying
// either chains, because the root is trusted by its key, as Intel's QvE does.
TEST(DcapRoot, TheRootIsTrustedByItsKeyNotOneIssueOfIt) {
  dcap_test::Fake fake;
  auto opts = fake.options();
  opts.root_pem = fake.reissued_root_pem();
  ASSERT_NE(opts.root_pem, fake.root_pem());
  TdxVerifier reissued(opts);
  auto ok = reissued.verify_evidence(tdx_evidence(fake.tdx_quote()));
  EXPECT_TRUE(ok) << ok.error().msg;
}

TEST(DcapRoot, ChainValidityIsCheckedAtTheGivenTime) {
  // tdx_quote_6.dat's PCK certificate is valid from 2025-04-08.
  TdxVerifier early({"", 1735689600, ""});  // 2025-01-01
  auto r = early.verify_evidence(tdx_evidence(data("tdx/tdx_quote_6.dat")));
  ASSERT_FALSE(r);
  EXPECT_EQ(prefix(r.error()), "pck-chain") << r.error().msg;
}

TEST(DcapEvidence, BuildersAndShapeErrors) {
  json t = tdx_evidence("ab", "cd");
  EXPECT_EQ(t["format"], "veil-tdx-v1");
  EXPECT_EQ(crypto::unb64url(t["quote"].get<std::string>()).value(), "ab");
  EXPECT_EQ(crypto::unb64url(t["cc_eventlog"].get<std::string>()).value(), "cd");
  EXPECT_FALSE(tdx_evidence("ab").contains("cc_eventlog"));
  EXPECT_EQ(sgx_evidence("ab")["format"], "veil-sgx-v1");
  TdxVerifier v(real());
  for (const json& ev : {json(nullptr), json::array(), json{{"format", "veil-tdx-v1"}},
                         json{{"format", "veil-tdx-v1"}, {"quote", 5}},
                         json{{"format", "veil-tdx-v1"}, {"quote", "***"}},
                         json{{"format", "veil-tdx-v1"}, {"quote", "AAAA"}, {"cc_eventlog", 1}}}) {
    auto r = v.verify_evidence(ev);
    ASSERT_FALSE(r) << ev.dump();
    EXPECT_EQ(prefix(r.error()), "evidence") << r.error().msg;
  }
  auto empty = v.verify_evidence(json{{"format", "veil-tdx-v1"}, {"quote", ""}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(prefix(empty.error()), "quote");
}

}  // namespace
}  // namespace veil::attest::dcap
