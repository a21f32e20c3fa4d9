// SEV-SNP evidence (veil-snp-v1) as veil-kbs verifies it. The first byte picks what the rest is:
//   0  the evidence JSON as it stands (AMD's pinned roots)
//   1  a raw report as it stands (unsigned by the harness), with the harness's Milan VCEK: the
//      parser, then the signature check
//   2  a raw report the harness signs with its own Milan VCEK (blSPL 2, teeSPL 0, snpSPL 9,
//      ucodeSPL 100, hwID 64 x 0xc1), checked against the harness's roots: everything past the
//      signature (product, tcb, chip, claims)
//   3  the same on Turin (fmcSPL 1, blSPL 2, teeSPL 3, snpSPL 4, ucodeSPL 5, hwID 8 x 0x7e)
//   4  VCEK extension values from the input (each: 1-byte length, bytes) in the order
//      productName, blSPL, teeSPL, snpSPL, ucodeSPL, fmcSPL, hwID, then a report (as in 2);
//      the harness issues that VCEK from its Milan ASK: the extension parsers
// A report that verifies must give claims matching its bytes, or the harness traps.
#include <string>

#include "attest/crypto.hpp"
#include "attest/snp/testing.hpp"
#include "attest/snp/verifier.hpp"
#include "common.hpp"

using namespace veil::attest::snp;
using veil::attest::json;

namespace {

struct Harness {
  SnpVerifier amd;
  testing::Hierarchy milan, turin;
  testing::Issuer milan_vcek, turin_vcek;
  std::unique_ptr<SnpVerifier> own;
  Harness() {
    auto m = testing::make_hierarchy("Milan");
    auto t = testing::make_hierarchy("Turin");
    if (!m || !t) __builtin_trap();
    milan = std::move(*m);
    turin = std::move(*t);
    auto mv = testing::make_leaf(milan, {.tcb = {.bootloader = 2, .snp = 9, .microcode = 100},
                                         .hwid = std::string(64, '\xc1')});
    auto tv = testing::make_leaf(
        turin, {.product_name = "Turin",
                .tcb = {.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5},
                .with_fmc = true,
                .hwid = std::string(8, '\x7e'),
                .hwid_octet_string = true});
    if (!mv || !tv) __builtin_trap();
    milan_vcek = std::move(*mv);
    turin_vcek = std::move(*tv);
    Roots roots;
    roots.push_back(milan.roots());
    roots.push_back(turin.roots());
    own = std::make_unique<SnpVerifier>(Options{}, std::move(roots));
  }
};

Harness& harness() {
  static Harness* h = new Harness;
  return *h;
}

// Verifies and checks that accepted claims say what the report's bytes say.
void check(SnpVerifier& v, const json& ev, std::string_view report) {
  std::string expected = report.size() >= kReportDataOffset + 32
                             ? std::string(report.substr(kReportDataOffset, 32))
                             : std::string(32, 'x');
  auto c = v.verify_evidence(ev);
  if (!c) {
    if (c.error().msg.empty()) __builtin_trap();
    return;
  }
  if (report.size() != kReportSize) __builtin_trap();
  if (c->tee != "snp" || c->measurement != veil::crypto::hex(report.substr(0x90, 48)) ||
      c->report_data != report.substr(kReportDataOffset, 64) ||
      c->debug != ((static_cast<uint8_t>(report[0x0A]) & 0x08) != 0))
    __builtin_trap();
  (void)c->to_json().dump();
  (void)v.verify(ev, expected);
}

std::string signed_by(std::string report, EVP_PKEY* key) {
  if (report.size() != kReportSize) return report;
  auto s = testing::sign_report(std::move(report), key);
  if (!s) __builtin_trap();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Harness& h = harness();
  std::string_view in = veil::fuzz::text(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      json ev = veil::fuzz::json_of(data + 1, size - 1);
      if (!ev.is_discarded()) (void)h.amd.verify(ev, std::string(32, '\0'));
      break;
    }
    case 1: {
      (void)parse_report(in);
      check(*h.own, evidence_from(in, veil::x509::der(h.milan_vcek.cert.get())), in);
      break;
    }
    case 2:
    case 3: {
      const testing::Issuer& vcek = data[0] % 5 == 2 ? h.milan_vcek : h.turin_vcek;
      std::string report = signed_by(std::string(in), vcek.key.get());
      check(*h.own, evidence_from(report, veil::x509::der(vcek.cert.get())), report);
      break;
    }
    case 4: {
      static const char* oids[] = {"1.3.6.1.4.1.3704.1.2",   "1.3.6.1.4.1.3704.1.3.1",
                                   "1.3.6.1.4.1.3704.1.3.2", "1.3.6.1.4.1.3704.1.3.3",
                                   "1.3.6.1.4.1.3704.1.3.8", "1.3.6.1.4.1.3704.1.3.9",
                                   "1.3.6.1.4.1.3704.1.4"};
      std::vector<std::pair<std::string, std::string>> exts;
      size_t at = 0;
      for (const char* oid : oids) {
        if (at >= in.size()) return 0;
        size_t len = static_cast<uint8_t>(in[at++]);
        if (len == 0xff) continue;  // leave this extension out
        if (at + len > in.size()) return 0;
        exts.emplace_back(oid, std::string(in.substr(at, len)));
        at += len;
      }
      auto leaf = testing::make_leaf(
          h.milan, {.key = h.milan_vcek.key.get(), .raw_extensions = std::move(exts)});
      if (!leaf) return 0;
      std::string report = signed_by(std::string(in.substr(at)), h.milan_vcek.key.get());
      check(*h.own, evidence_from(report, veil::x509::der(leaf->cert.get())), report);
      break;
    }
  }
  return 0;
}
