// The X.509 helpers the hardware verifiers build on, on AMD's real certificates
// (tests/data/tee/snp: a Milan chip's VCEK and AMD's Milan/Genoa ASK, ARK, ASVK).
#include "attest/x509.hpp"

#include <gtest/gtest.h>
#include <openssl/ecdsa.h>

#include "base/file.hpp"

using namespace veil;

namespace {
std::string data(const std::string& name) {
  return read_file(std::string(VEIL_TEE_DATA) + "/snp/" + name).value();
}
// AMD's bundles hold ASK (or SEV-<family>), ARK, ASVK in that order.
struct Family {
  std::vector<x509::Cert> certs;
  X509* ask() const { return certs[0].get(); }
  X509* ark() const { return certs[1].get(); }
};
Family family(const std::string& name) {
  return {x509::from_pem(data(name + "_ask_ark_asvk.pem")).value()};
}
}  // namespace

TEST(X509, RealVcekChainsToItsFamilysPinnedArkOnly) {
  auto vcek = x509::from_der(data("test-vcek.der"));
  ASSERT_TRUE(vcek) << vcek.error().str();
  auto milan = family("milan");
  ASSERT_EQ(milan.certs.size(), 3u);
  EXPECT_NE(x509::subject(milan.ark()).find("ARK-Milan"), std::string::npos);
  auto ok = x509::verify_chain(vcek->get(), {milan.ask()}, {milan.ark()});
  EXPECT_TRUE(ok) << ok.error().str();
  // Genoa's ARK is not this chain's root; nor is the ASK trusted as a root on its own terms
  // when the ARK is missing from the pinned set.
  auto genoa = family("genoa");
  auto wrong = x509::verify_chain(vcek->get(), {milan.ask()}, {genoa.ark()});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().str().find("SEV-Milan"), std::string::npos) << wrong.error().str();
  EXPECT_FALSE(x509::verify_chain(vcek->get(), {genoa.ask()}, {genoa.ark()}));
  EXPECT_FALSE(x509::verify_chain(vcek->get(), {}, {milan.ark()}));
  // Validity periods are checked at the time given: before AMD issued the ARK, nothing chains.
  EXPECT_FALSE(x509::verify_chain(vcek->get(), {milan.ask()}, {milan.ark()}, 946684800));
}

TEST(X509, VcekExtensionsAndBitFlips) {
  std::string der = data("test-vcek.der");
  auto vcek = x509::from_der(der).value();
  // hwID (1.3.6.1.4.1.3704.1.4): the chip id; AMD puts the 64 raw bytes in the extension
  // value itself (no inner DER tag), which is what a verifier compares with CHIP_ID.
  auto hwid = x509::extension(vcek.get(), "1.3.6.1.4.1.3704.1.4");
  ASSERT_TRUE(hwid);
  EXPECT_EQ(hwid->size(), 64u);
  EXPECT_FALSE(x509::extension(vcek.get(), "1.2.3.4"));
  auto milan = family("milan");
  // Flipping any bit of the signed part or the signature breaks parsing or the chain.
  int refused = 0, tried = 0;
  for (size_t bit = 8 * 8; bit < der.size() * 8; bit += 97) {
    std::string bad = der;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    tried++;
    auto c = x509::from_der(bad);
    if (!c || !x509::verify_chain(c->get(), {milan.ask()}, {milan.ark()})) refused++;
  }
  EXPECT_EQ(refused, tried);
  EXPECT_FALSE(x509::from_der(der + "x"));
  EXPECT_FALSE(x509::from_der(der.substr(0, der.size() - 1)));
}

TEST(X509, RawEcdsaAndCurvePoints) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(k, nullptr);
  crypto::Pkey key(k);
  size_t len = 0;
  unsigned char pub[97];
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.get(), "pub", pub, sizeof pub, &len), 1);
  ASSERT_EQ(len, 97u);
  std::string x(reinterpret_cast<char*>(pub + 1), 48), y(reinterpret_cast<char*>(pub + 49), 48);
  auto back = crypto::ec_from_xy("secp384r1", x, y);
  ASSERT_TRUE(back) << back.error().str();
  std::string y_bad = y;
  y_bad[47] ^= 1;
  EXPECT_FALSE(crypto::ec_from_xy("secp384r1", x, y_bad));  // not on the curve
  EXPECT_EQ(x509::sha384("abc").size(), 48u);
  // Sign with OpenSSL (DER), convert to raw r||s, verify raw.
  std::string msg = "report body";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char sig[128];
  size_t sig_len = sizeof sig;
  ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, key.get()), 1);
  ASSERT_EQ(EVP_DigestSign(ctx, sig, &sig_len, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size()),
            1);
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = sig;
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig_len));
  ASSERT_NE(es, nullptr);
  unsigned char r[48], s[48];
  BN_bn2binpad(ECDSA_SIG_get0_r(es), r, 48);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), s, 48);
  ECDSA_SIG_free(es);
  std::string rs(reinterpret_cast<char*>(r), 48), ss(reinterpret_cast<char*>(s), 48);
  EXPECT_TRUE(x509::ecdsa_verify_raw(back->get(), EVP_sha384(), msg, rs, ss));
  EXPECT_FALSE(x509::ecdsa_verify_raw(back->get(), EVP_sha384(), msg + ".", rs, ss));
  rs[10] ^= 4;
  EXPECT_FALSE(x509::ecdsa_verify_raw(back->get(), EVP_sha384(), msg, rs, ss));
}
