// Intel DCAP evidence (veil-tdx-v1, veil-sgx-v1) as veil-kbs verifies it. The first byte picks
// what the rest is:
//   0  the evidence JSON as it stands, to both verifiers (Intel's pinned root)
//   1  a raw quote as it stands (the harness wraps it as TDX or SGX evidence by its TEE type):
//      the layout parser, the strict PEM chain, the PCK extension, the signature checks
//   2  a TD report body (584 bytes; byte 0 of the rest: bit 0 quote v5, bit 1 TD report 1.5,
//      bit 2 send the CC event log, bit 3 make the RTMRs differ from its replay) then a CC event
//      log: the harness signs the quote with its own PKI and checks it against its own collateral
//      (TCB levels, TDX module, QE identity) and the log against the RTMRs
//   3  a CC event log: the parser and replay
//   4  PCS collateral text (tcbInfo or enclaveIdentity file): the exact-member scanner and the
//      parsers, then the TCB evaluation of a quote of the same FMSPC
//   5  a PCK SGX extension (DER)
// A quote that verifies must give claims matching its bytes, or the harness traps.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "attest/crypto.hpp"
#include "attest/dcap/testing.hpp"
#include "attest/dcap/verifier.hpp"
#include "common.hpp"

using namespace veil::attest::dcap;
using veil::attest::json;

namespace {

constexpr int64_t kAt = 1800000000;  // 2027-01-15, inside the harness's collateral

struct Harness {
  TdxVerifier intel_tdx{Options{"", 1761955200, ""}};  // 2025-11-01
  SgxVerifier intel_sgx{Options{"", 1761955200, ""}};
  testing::Pki pki;
  std::string dir;
  std::unique_ptr<TdxVerifier> own;
  Harness() {
    char tmpl[] = "/tmp/veil-dcap-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) __builtin_trap();
    dir = tmpl;
    // Intel-shaped TDX collateral: two platform levels, module identities TDX_01 and TDX_03.
    json tcb = json::parse(R"({"id":"TDX","version":3,"issueDate":"2027-01-01T00:00:00Z",
      "nextUpdate":"2027-02-01T00:00:00Z","fmspc":"00A06D080000","pceId":"0000","tcbType":0,
      "tcbEvaluationDataNumber":17,"tdxModule":{"mrsigner":"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"},
      "tdxModuleIdentities":[
       {"id":"TDX_03","mrsigner":"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[{"tcb":{"isvsvn":3},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"}]},
       {"id":"TDX_01","mrsigner":"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"},{"tcb":{"isvsvn":2},"tcbDate":"2023-08-09T00:00:00Z","tcbStatus":"Revoked"}]}],
      "tcbLevels":[
       {"tcb":{"sgxtcbcomponents":[{"svn":2},{"svn":2},{"svn":2},{"svn":2},{"svn":4},{"svn":1},{"svn":0},{"svn":2},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0}],"pcesvn":11,
        "tdxtcbcomponents":[{"svn":5},{"svn":0},{"svn":2},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0}]},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"},
       {"tcb":{"sgxtcbcomponents":[{"svn":2},{"svn":2},{"svn":2},{"svn":2},{"svn":4},{"svn":1},{"svn":0},{"svn":2},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0}],"pcesvn":5,
        "tdxtcbcomponents":[{"svn":1},{"svn":0},{"svn":1},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0}]},"tcbDate":"2018-01-04T00:00:00Z","tcbStatus":"ConfigurationNeeded"}]})");
    json qe = json::parse(R"({"id":"TD_QE","version":2,"issueDate":"2027-01-01T00:00:00Z",
      "nextUpdate":"2027-02-01T00:00:00Z","tcbEvaluationDataNumber":17,"miscselect":"00000000",
      "miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000",
      "attributesMask":"FBFFFFFFFFFFFFFF0000000000000000",
      "mrsigner":"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5","isvprodid":2,
      "tcbLevels":[{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"}]})");
    write("tcbInfo.json", pki.signed_file("tcbInfo", tcb));
    write("enclaveIdentity.json", pki.signed_file("enclaveIdentity", qe));
    write("tcb_signing_chain.pem", pki.signing_chain_pem());
    own = std::make_unique<TdxVerifier>(pki.options(dir, kAt));
  }
  void write(const char* name, const std::string& text) {
    std::ofstream f(dir + "/" + name, std::ios::binary);
    f << text;
    if (!f.good()) __builtin_trap();
  }
};

Harness& harness() {
  static Harness* h = new Harness;
  return *h;
}

void expect(bool ok) {
  if (!ok) __builtin_trap();
}

// Accepted TDX claims must say what the TD report's bytes say.
void check_td(const veil::Result<veil::attest::Claims>& c, std::string_view body) {
  if (!c) return;
  using veil::crypto::hex;
  expect(c->measurement == hex(body.substr(136, 48)));
  expect(c->details["rtmr3"] == hex(body.substr(472, 48)));
  expect(c->report_data == body.substr(520, 64));
  expect(c->debug == ((static_cast<uint8_t>(body[120]) & 1) != 0));
  expect(c->details["tcb_status"] != "Revoked");
  (void)c->to_json().dump();
}

void raw_quote(std::string_view q) {
  auto& h = harness();
  auto p = parse_quote(q);
  if (p && p->tdx()) {
    check_td(h.intel_tdx.verify_evidence(tdx_evidence(q)), p->td->raw);
  } else {
    auto c = h.intel_sgx.verify_evidence(sgx_evidence(q));
    if (c) expect(p && c->measurement == veil::crypto::hex(p->enclave->mr_enclave));
  }
}

void signed_td(std::string_view in) {
  auto& h = harness();
  std::string body(in.substr(0, 584));
  body.resize(584, '\0');
  in.remove_prefix(std::min<size_t>(in.size(), 584));
  uint8_t flags = in.empty() ? 0 : static_cast<uint8_t>(in[0]);
  if (!in.empty()) in.remove_prefix(1);
  testing::TdParams p;
  p.version = flags & 1 ? 5 : 4;
  p.td15 = p.version == 5 && (flags & 2);
  if (p.td15) body.resize(648, '\x5a');
  std::string log(in);
  if (auto replay = replay_ccel(log); replay && !(flags & 8))
    for (size_t i = 0; i < 4; i++) body.replace(328 + 48 * i, 48, replay->rtmr[i]);
  std::string quote = h.pki.tdx_quote(p, {}, body);
  auto c = h.own->verify_evidence(tdx_evidence(quote, flags & 4 ? log : std::string()));
  check_td(c, body);
  if (c && (flags & 4) && !log.empty()) expect(c->details["ccel_replayed"] == true);
}

void collateral(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return;
  for (const char* key : {"tcbInfo", "enclaveIdentity"}) (void)raw_member(text, key);
  auto t = parse_tcb_info(j.is_object() && j.contains("tcbInfo") ? j["tcbInfo"] : j);
  auto q =
      parse_qe_identity(j.is_object() && j.contains("enclaveIdentity") ? j["enclaveIdentity"] : j);
  if (!t) return;
  // A quote of the same platform, with a QE identity taken from the input or matching it.
  Collateral c;
  c.tcb_info = *t;
  if (q) {
    c.qe_identity = *q;
  } else {
    c.qe_identity.id = t->id == "TDX" ? "TD_QE" : "QE";
    c.qe_identity.misc_select = c.qe_identity.misc_select_mask = std::string(4, '\0');
    c.qe_identity.attributes = c.qe_identity.attributes_mask = std::string(16, '\0');
    c.qe_identity.mr_signer = std::string(32, '\0');
    c.qe_identity.levels = {{0, TcbStatus::kUpToDate}};
  }
  Quote quote;
  quote.tee_type = t->id == "TDX" ? kTeeTdx : kTeeSgx;
  std::string td(584, '\0');
  td.replace(0, 3, std::string("\x05\x03\x02", 3));
  if (quote.tdx())
    quote.td = parse_td_report(td);
  else
    quote.enclave = parse_enclave_report(std::string(384, '\0'));
  quote.qe_report = parse_enclave_report(std::string(384, '\0'));
  PckExtension pck;
  pck.fmspc = t->fmspc;
  pck.pce_id = t->pce_id;
  pck.pce_svn = 11;
  pck.tcb_comp = {2, 2, 7, 7, 4, 1, 0, 2};
  if (auto s = evaluate_tcb(c, quote, pck)) (void)status_name(*s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest = veil::fuzz::text(data + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      json ev = veil::fuzz::json_of(data + 1, size - 1);
      if (ev.is_discarded()) return 0;
      (void)harness().intel_tdx.verify_evidence(ev);
      (void)harness().intel_sgx.verify_evidence(ev);
      break;
    }
    case 1:
      raw_quote(rest);
      break;
    case 2:
      signed_td(rest);
      break;
    case 3:
      (void)replay_ccel(rest);
      break;
    case 4:
      collateral(rest);
      break;
    case 5:
      (void)parse_pck_extension(rest);
      break;
  }
  return 0;
}
