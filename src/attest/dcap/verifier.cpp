#include "attest/dcap/verifier.hpp"

#include <algorithm>
#include <climits>
#include <ctime>

#include "attest/crypto.hpp"
#include "attest/json_get.hpp"

namespace veil::attest::dcap {
namespace {

constexpr size_t kMaxEvidenceQuote = kMaxQuoteSize;

// The quote's PCK chain: PEM certificates, maybe followed by NUL padding. Read strictly (canonical
// base64, DER without trailing bytes, nothing but line breaks around the blocks) so that every
// change to the carried bytes is a change to a certificate, not a variant spelling of the same.
Result<std::vector<x509::Cert>> chain_of(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  while (!pem.empty() && pem.back() == '\0') pem.remove_suffix(1);
  std::vector<x509::Cert> certs;
  auto skip_breaks = [&] {
    while (!pem.empty() && (pem.front() == '\n' || pem.front() == '\r')) pem.remove_prefix(1);
  };
  skip_breaks();
  while (!pem.empty()) {
    if (!pem.starts_with(kBegin))
      return fail("pck-chain: certificate " + std::to_string(certs.size() + 1) +
                  ": not a PEM CERTIFICATE block");
    pem.remove_prefix(kBegin.size());
    size_t end = pem.find(kEnd);
    if (end == std::string_view::npos)
      return fail("pck-chain: certificate " + std::to_string(certs.size() + 1) + ": no END line");
    std::string b64;
    for (char c : pem.substr(0, end))
      if (c != '\n' && c != '\r') b64 += c;
    pem.remove_prefix(end + kEnd.size());
    auto der = crypto::unb64(b64);
    if (!der || crypto::b64(*der) != b64)
      return fail("pck-chain: certificate " + std::to_string(certs.size() + 1) +
                  ": not canonical base64");
    auto cert = x509::from_der(*der);
    if (!cert)
      return fail("pck-chain: certificate " + std::to_string(certs.size() + 1) + ": " +
                  cert.error().msg);
    certs.push_back(std::move(*cert));
    skip_breaks();
  }
  if (certs.size() != 3)
    return fail("pck-chain: " + std::to_string(certs.size()) +
                " certificates; expected 3 (PCK, PCK CA, root)");
  return certs;
}

Result<std::string> b64_field(const json& ev, const char* key, size_t max) {
  auto it = ev.find(key);
  if (it == ev.end() || !it->is_string())
    return fail(std::string("evidence: missing or non-string '") + key + "'");
  if (it->get_ref<const std::string&>().size() > max / 3 * 4 + 4)
    return fail(std::string("evidence: '") + key + "' is too large");
  auto raw = crypto::unb64url(it->get<std::string>());
  if (!raw) return fail(std::string("evidence: '") + key + "' is not base64url");
  return *raw;
}

Result<std::string> quote_of(const json& ev, const char* format) {
  if (!ev.is_object()) return fail("evidence: not a JSON object");
  if (string_or(ev, "format") != format)
    return fail(std::string("evidence: format is not ") + format);
  return b64_field(ev, "quote", kMaxEvidenceQuote);
}

using crypto::hex;

// The quote's PCK chain checked to the pinned root at `at` (0: now): its PCK key and SGX
// extension, and the window in which the check holds.
Result<VerifiedChain> check_pck_chain(std::string_view pem, X509* root, int64_t at) {
  auto certs = VEIL_TRY(chain_of(pem));
  X509* pck = certs[0].get();
  // The root is trusted by its key, as Intel's QvE does: Intel has issued the same root key in
  // more than one certificate (valid to 2033, and to 2049), and quotes carry whichever the
  // platform's PCCS had. The chain itself is checked against the pinned certificate.
  auto carried_key = x509::public_key(certs[2].get());
  auto pinned_key = x509::public_key(root);
  if (!carried_key || !pinned_key || EVP_PKEY_eq(carried_key->get(), pinned_key->get()) != 1)
    return fail(
        "root: the quote's certificate chain does not end in the pinned Intel SGX Root CA (" +
        x509::subject(certs[2].get()) + ")");
  if (auto ok = x509::verify_chain(pck, {certs[1].get()}, {root}, at); !ok)
    return fail("pck-chain: " + ok.error().msg);
  if (x509::common_name(pck).find("SGX PCK Certificate") == std::string::npos)
    return fail("pck-chain: the leaf is not an SGX PCK certificate (" + x509::subject(pck) + ")");
  VerifiedChain out;
  out.pck = VEIL_TRY(pck_extension(pck));
  auto pck_key = x509::public_key(pck);
  if (!pck_key) return fail("pck-chain: " + pck_key.error().msg);
  out.pck_key = std::move(*pck_key);
  out.valid_from = INT64_MIN;
  out.valid_until = INT64_MAX;
  for (X509* c : {certs[0].get(), certs[1].get(), root}) {
    auto [from, until] = VEIL_TRY(x509::validity(c));
    out.valid_from = std::max(out.valid_from, from);
    out.valid_until = std::min(out.valid_until, until);
  }
  return out;
}

}  // namespace

Result<Verified> verify_quote(std::string_view bytes, uint32_t tee, X509* root,
                              const Options& options, Caches* caches) {
  Verified v;
  v.quote = VEIL_TRY(parse_quote(bytes));
  const Quote& q = v.quote;
  if (q.tee_type != tee)
    return fail(std::string("quote: this is ") + (q.tdx() ? "a TDX" : "an SGX") +
                " quote; this verifier takes " + (tee == kTeeTdx ? "TDX" : "SGX") + " quotes");
  int64_t now = options.at != 0 ? options.at : static_cast<int64_t>(std::time(nullptr));

  std::string chain_key = crypto::sha256(q.pck_chain);
  auto chain = caches ? caches->chains.get(chain_key, now) : nullptr;
  if (!chain) {
    auto checked =
        std::make_shared<const VerifiedChain>(VEIL_TRY(check_pck_chain(q.pck_chain, root, now)));
    if (caches) caches->chains.put(chain_key, checked->valid_from, checked->valid_until, checked);
    chain = checked;
  }
  v.pck = chain->pck;

  std::string_view qe_sig = q.qe_report_signature;
  if (!x509::ecdsa_verify_raw(chain->pck_key.get(), EVP_sha256(), q.qe_report.raw,
                              qe_sig.substr(0, 32), qe_sig.substr(32)))
    return fail("qe-report: the QE report's signature does not verify with the PCK key");

  std::string binding = crypto::sha256(q.attest_key + q.qe_auth_data);
  std::string_view rd = q.qe_report.report_data;
  if (!crypto::equal(rd.substr(0, 32), binding) ||
      rd.substr(32).find_first_not_of('\0') != std::string_view::npos)
    return fail(
        "qe-binding: the QE report does not bind the attestation key (SHA-256(key || QE auth "
        "data) differs from its report data)");

  std::string_view ak = q.attest_key;
  auto key = crypto::ec_from_xy("prime256v1", ak.substr(0, 32), ak.substr(32));
  if (!key) return fail("signature: the attestation key is not a P-256 point: " + key.error().msg);
  std::string_view sig = q.signature;
  if (!x509::ecdsa_verify_raw(key->get(), EVP_sha256(), q.signed_part, sig.substr(0, 32),
                              sig.substr(32)))
    return fail("signature: the quote's signature does not verify with its attestation key");

  v.tcb_status = "unknown";
  if (!options.collateral_dir.empty()) {
    auto files = VEIL_TRY(read_collateral(options.collateral_dir, v.pck.fmspc));
    std::string files_key = crypto::sha256(
        std::to_string(files.tcb_info.size()) + ":" + files.tcb_info +
        std::to_string(files.qe_identity.size()) + ":" + files.qe_identity + files.signing_chain);
    auto c = caches ? caches->collateral.get(files_key, now) : nullptr;
    if (!c) {
      auto checked = std::make_shared<const Collateral>(VEIL_TRY(
          check_collateral(files.tcb_info, files.qe_identity, files.signing_chain, root, now)));
      if (caches)
        caches->collateral.put(files_key, checked->valid_from, checked->valid_until, checked);
      c = checked;
    }
    TcbStatus s = VEIL_TRY(evaluate_tcb(*c, q, v.pck));
    if (s == TcbStatus::kRevoked) return fail("tcb: the platform's TCB status is Revoked");
    v.tcb_status = status_name(s);
  }
  return v;
}

DcapVerifier::DcapVerifier(Options options) : options_(std::move(options)) {
  std::string_view pem = options_.root_pem.empty() ? intel_sgx_root_pem() : options_.root_pem;
  auto certs = x509::from_pem(pem);
  if (!certs)
    root_error_ = certs.error().msg;
  else if (certs->size() != 1)
    root_error_ = "the pinned root PEM holds " + std::to_string(certs->size()) + " certificates";
  else
    root_ = std::move((*certs)[0]);
}

Result<Verified> DcapVerifier::check(std::string_view quote, uint32_t tee) const {
  if (!root_) return fail("root: the pinned root did not load: " + root_error_);
  return verify_quote(quote, tee, root_.get(), options_, &caches_);
}

Result<Claims> TdxVerifier::verify_evidence(const json& ev) {
  auto bytes = VEIL_TRY(quote_of(ev, kTdxFormat));
  std::string log;
  if (ev.contains("cc_eventlog")) log = VEIL_TRY(b64_field(ev, "cc_eventlog", kMaxCcel));
  auto v = VEIL_TRY(check(bytes, kTeeTdx));
  const TdReport& td = *v.quote.td;
  bool replayed = false;
  if (!log.empty()) {
    auto ccel = VEIL_TRY(replay_ccel(log));
    for (size_t i = 0; i < 4; i++)
      if (ccel.rtmr[i] != td.rtmr[i])
        return fail("ccel: RTMR" + std::to_string(i) + " replay differs (the log gives " +
                    hex(ccel.rtmr[i]) + ", the quote has " + hex(td.rtmr[i]) + ")");
    replayed = true;
  }
  Claims c;
  c.tee = kTdxTee;
  c.measurement = hex(td.mr_td);
  c.debug = static_cast<uint8_t>(td.td_attributes[0]) & 0x01;
  c.svn = 0;
  c.report_data = td.report_data;
  c.details = {{"mr_td", hex(td.mr_td)},
               {"rtmr0", hex(td.rtmr[0])},
               {"rtmr1", hex(td.rtmr[1])},
               {"rtmr2", hex(td.rtmr[2])},
               {"rtmr3", hex(td.rtmr[3])},
               {"mr_config_id", hex(td.mr_config_id)},
               {"mr_owner", hex(td.mr_owner)},
               {"mr_owner_config", hex(td.mr_owner_config)},
               {"mr_seam", hex(td.mr_seam)},
               {"mr_signer_seam", hex(td.mr_signer_seam)},
               {"td_attributes", hex(td.td_attributes)},
               {"xfam", hex(td.xfam)},
               {"tee_tcb_svn", hex(td.tee_tcb_svn)},
               {"report_data", hex(td.report_data)},
               {"quote_version", v.quote.version},
               {"tcb_status", v.tcb_status},
               {"fmspc", hex(v.pck.fmspc)},
               {"ccel_replayed", replayed}};
  return c;
}

Result<Claims> SgxVerifier::verify_evidence(const json& ev) {
  auto bytes = VEIL_TRY(quote_of(ev, kSgxFormat));
  auto v = VEIL_TRY(check(bytes, kTeeSgx));
  const EnclaveReport& e = *v.quote.enclave;
  Claims c;
  c.tee = kSgxTee;
  c.measurement = hex(e.mr_enclave);
  c.debug = static_cast<uint8_t>(e.attributes[0]) & 0x02;
  c.svn = e.isv_svn;
  c.report_data = e.report_data;
  c.details = {{"mr_enclave", hex(e.mr_enclave)},  {"mr_signer", hex(e.mr_signer)},
               {"isv_prod_id", e.isv_prod_id},     {"isv_svn", e.isv_svn},
               {"attributes", hex(e.attributes)},  {"misc_select", hex(e.misc_select)},
               {"cpu_svn", hex(e.cpu_svn)},        {"report_data", hex(e.report_data)},
               {"quote_version", v.quote.version}, {"tcb_status", v.tcb_status},
               {"fmspc", hex(v.pck.fmspc)}};
  return c;
}

json tdx_evidence(std::string_view quote, std::string_view cc_eventlog) {
  json ev{{"format", kTdxFormat}, {"quote", crypto::b64url(quote)}};
  if (!cc_eventlog.empty()) ev["cc_eventlog"] = crypto::b64url(cc_eventlog);
  return ev;
}

json sgx_evidence(std::string_view quote) {
  return json{{"format", kSgxFormat}, {"quote", crypto::b64url(quote)}};
}

}  // namespace veil::attest::dcap
