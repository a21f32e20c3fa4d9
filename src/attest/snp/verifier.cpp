#include "attest/snp/verifier.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>

#include <filesystem>
#include <optional>

#include "attest/crypto.hpp"
#include "attest/json_get.hpp"
#include "base/file.hpp"

namespace veil::attest::snp {
namespace {

// AMD's VCEK/VLEK extensions (VCEK specification, "VCEK certificate extensions").
constexpr const char* kOidProductName = "1.3.6.1.4.1.3704.1.2";
constexpr const char* kOidBlSpl = "1.3.6.1.4.1.3704.1.3.1";
constexpr const char* kOidTeeSpl = "1.3.6.1.4.1.3704.1.3.2";
constexpr const char* kOidSnpSpl = "1.3.6.1.4.1.3704.1.3.3";
constexpr const char* kOidUcodeSpl = "1.3.6.1.4.1.3704.1.3.8";
constexpr const char* kOidFmcSpl = "1.3.6.1.4.1.3704.1.3.9";
constexpr const char* kOidHwId = "1.3.6.1.4.1.3704.1.4";

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A DER INTEGER that fills `der` exactly.
std::optional<int64_t> der_integer(std::string_view der) {
  const unsigned char* p = u8(der);
  ASN1_INTEGER* i = d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(der.size()));
  ERR_clear_error();
  if (!i) return std::nullopt;
  int64_t v = 0;
  bool ok = p == u8(der) + der.size() && ASN1_INTEGER_get_int64(&v, i) == 1;
  ASN1_INTEGER_free(i);
  ERR_clear_error();
  if (!ok) return std::nullopt;
  return v;
}

// A DER string (IA5String as AMD writes productName; UTF8String and PrintableString accepted).
std::optional<std::string> der_string(std::string_view der) {
  const unsigned char* p = u8(der);
  ASN1_TYPE* t = d2i_ASN1_TYPE(nullptr, &p, static_cast<long>(der.size()));
  ERR_clear_error();
  if (!t) return std::nullopt;
  std::optional<std::string> out;
  int type = ASN1_TYPE_get(t);
  if (p == u8(der) + der.size() &&
      (type == V_ASN1_IA5STRING || type == V_ASN1_UTF8STRING || type == V_ASN1_PRINTABLESTRING)) {
    const ASN1_STRING* s = t->value.asn1_string;
    out.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
  }
  ASN1_TYPE_free(t);
  return out;
}

// The hwID extension: AMD's older VCEKs carry the raw chip id as the extension value, newer
// ones a DER OCTET STRING holding it. 64 bytes, or 8 on Turin (KDS identifies Turin chips by
// the first 8 bytes of CHIP_ID).
std::optional<std::string> hwid(std::string_view ext) {
  if (ext.size() == 64 || ext.size() == 8) return std::string(ext);
  const unsigned char* p = u8(ext);
  ASN1_OCTET_STRING* o = d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(ext.size()));
  ERR_clear_error();
  if (!o) return std::nullopt;
  std::optional<std::string> out;
  if (p == u8(ext) + ext.size())
    out.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(o)), ASN1_STRING_length(o));
  ASN1_OCTET_STRING_free(o);
  if (out && out->size() != 64 && out->size() != 8) return std::nullopt;
  return out;
}

bool is_p384(EVP_PKEY* key) {
  char group[64] = "";
  size_t len = 0;
  bool ok = EVP_PKEY_is_a(key, "EC") &&
            EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
            std::string_view(group) == "secp384r1";
  ERR_clear_error();
  return ok;
}

bool all_zero(std::string_view b) {
  return b.find_first_not_of('\0') == std::string_view::npos;
}

}  // namespace

Result<Crls> load_crls(const std::string& dir) {
  Crls crls;
  if (dir.empty()) return crls;
  std::error_code ec;
  std::vector<std::string> paths;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".crl" && it->is_regular_file()) paths.push_back(it->path());
  if (ec) return fail("collateral: " + dir + ": " + ec.message());
  for (const auto& path : paths) {
    auto text = read_file(path);
    if (!text) return fail("collateral: " + path + ": " + text.error().str());
    auto crl = x509::crl_from(*text);
    if (!crl) return fail("collateral: " + path + ": " + crl.error().str());
    crls.owned.push_back(std::move(*crl));
  }
  return crls;
}

namespace {

// The signing certificate from the collateral directory.
Result<std::string> collateral_cert(const std::string& dir, const Report& r, bool vlek) {
  const char* kind = vlek ? "VLEK" : "VCEK";
  if (dir.empty())
    return fail(std::string("collateral: the evidence carries no ") + kind +
                " and no collateral directory is configured");
  std::vector<std::string> names;
  if (vlek) {
    names = {"vlek.der"};
  } else {
    if (!all_zero(r.chip_id)) names.push_back("vcek-" + crypto::hex(r.chip_id) + ".der");
    names.push_back("vcek.der");
  }
  for (const auto& name : names) {
    std::string path = dir + "/" + name;
    if (!path_exists(path)) continue;
    auto der = read_file(path);
    if (!der) return fail("collateral: " + path + ": " + der.error().str());
    return *der;
  }
  std::string tried;
  for (const auto& name : names) tried += (tried.empty() ? "" : ", ") + name;
  return fail(std::string("collateral: no ") + kind + " for this report (not in the evidence; " +
              "none of " + tried + " in " + dir + ")");
}

void add_tcb(json& d, const std::string& prefix, uint64_t raw, Product p) {
  Tcb t = decode_tcb(raw, p);
  d[prefix + ".bootloader"] = t.bootloader;
  d[prefix + ".tee"] = t.tee;
  d[prefix + ".snp"] = t.snp;
  d[prefix + ".microcode"] = t.microcode;
  if (p == Product::kTurin) d[prefix + ".fmc"] = t.fmc;
}

json details(const Report& r, Product p, bool vlek) {
  json d = json::object();
  d["version"] = r.version;
  d["signing_key"] = vlek ? "vlek" : "vcek";
  d["product"] = product_name(p);
  d["measurement"] = crypto::hex(r.measurement);
  d["host_data"] = crypto::hex(r.host_data);
  d["report_data"] = crypto::hex(r.report_data);
  d["chip_id"] = crypto::hex(r.chip_id);
  d["id_key_digest"] = crypto::hex(r.id_key_digest);
  d["author_key_digest"] = crypto::hex(r.author_key_digest);
  d["author_key_en"] = r.author_key_en();
  d["family_id"] = crypto::hex(r.family_id);
  d["image_id"] = crypto::hex(r.image_id);
  d["report_id"] = crypto::hex(r.report_id);
  d["report_id_ma"] = crypto::hex(r.report_id_ma);
  d["guest_svn"] = r.guest_svn;
  d["policy"] = r.policy;
  d["policy.abi_major"] = (r.policy >> 8) & 0xff;
  d["policy.abi_minor"] = r.policy & 0xff;
  d["policy.smt"] = (r.policy & kPolicySmt) != 0;
  d["policy.migrate_ma"] = (r.policy & kPolicyMigrateMa) != 0;
  d["policy.debug"] = (r.policy & kPolicyDebug) != 0;
  d["policy.single_socket"] = (r.policy & kPolicySingleSocket) != 0;
  d["vmpl"] = r.vmpl;
  d["platform_info"] = r.platform_info;
  d["platform_info.smt_enabled"] = (r.platform_info & 1) != 0;
  d["platform_info.tsme_enabled"] = (r.platform_info & 2) != 0;
  add_tcb(d, "reported_tcb", r.reported_tcb, p);
  add_tcb(d, "current_tcb", r.current_tcb, p);
  add_tcb(d, "committed_tcb", r.committed_tcb, p);
  add_tcb(d, "launch_tcb", r.launch_tcb, p);
  d["current_build"] = r.current_build;
  d["current_minor"] = r.current_minor;
  d["current_major"] = r.current_major;
  d["committed_build"] = r.committed_build;
  d["committed_minor"] = r.committed_minor;
  d["committed_major"] = r.committed_major;
  if (r.has_cpuid()) {
    d["cpuid_fam_id"] = r.cpuid_fam_id;
    d["cpuid_mod_id"] = r.cpuid_mod_id;
    d["cpuid_step"] = r.cpuid_step;
  }
  if (r.has_mit_vectors()) {
    d["launch_mit_vector"] = r.launch_mit_vector;
    d["current_mit_vector"] = r.current_mit_vector;
  }
  return d;
}

}  // namespace

SnpVerifier::SnpVerifier(Options options) : options_(std::move(options)) {
  auto roots = amd_roots();
  if (roots)
    roots_ = std::move(*roots);
  else
    roots_error_ = roots.error().str();
}

SnpVerifier::SnpVerifier(Options options, Roots roots)
    : options_(std::move(options)), roots_(std::move(roots)) {}

Result<Claims> SnpVerifier::verify_evidence(const json& ev) {
  // evidence
  if (!ev.is_object()) return fail("evidence: not a JSON object");
  if (string_or(ev, "format") != kFormat)
    return fail(std::string("evidence: format is not ") + kFormat);
  for (const char* k : {"report", "vcek", "vlek"}) {
    auto it = ev.find(k);
    if (it != ev.end() && !it->is_string())
      return fail(std::string("evidence: '") + k + "' is not a string");
  }
  if (!ev.contains("report")) return fail("evidence: missing 'report'");
  auto bytes = crypto::unb64url(ev["report"].get<std::string>());
  if (!bytes) return fail("evidence: 'report' is not base64url: " + bytes.error().str());

  // report
  Report r = VEIL_TRY(parse_report(*bytes));
  uint32_t signing_key = r.signing_key();
  if (signing_key == static_cast<uint32_t>(SigningKey::kNone))
    return fail("signature: the report is not signed (its signing key is 'none')");
  bool vlek = signing_key == static_cast<uint32_t>(SigningKey::kVlek);
  std::string kind = vlek ? "VLEK" : "VCEK";
  if (!vlek && r.mask_chip_key())
    return fail("signature: MASK_CHIP_KEY is set: the report is not signed by a VCEK");

  // collateral: the certificate and the CRLs
  const char* field = vlek ? "vlek" : "vcek";
  std::string der;
  if (ev.contains(field)) {
    auto d = crypto::unb64url(ev[field].get<std::string>());
    if (!d) return fail(std::string("evidence: '") + field + "' is not base64url");
    der = std::move(*d);
  } else if (ev.contains(vlek ? "vcek" : "vlek")) {
    return fail("signature: the report says the " + kind +
                " signed it but the evidence carries a " + (vlek ? "VCEK" : "VLEK"));
  } else {
    der = VEIL_TRY(collateral_cert(options_.collateral_dir, r, vlek));
  }
  // Read on every verification, so CRLs the operator drops in count at once (no collateral
  // directory, as in veil-kbs by default: nothing to read).
  auto crls = VEIL_TRY(load_crls(options_.collateral_dir));
  std::vector<X509_CRL*> crl_ptrs;
  for (const auto& c : crls.owned) crl_ptrs.push_back(c.get());

  // certificate
  auto cert = x509::from_der(der);
  if (!cert) return fail("certificate: " + kind + ": " + cert.error().str());
  X509* leaf = cert->get();

  // root + chain: the product's roots, from the certificate's productName (else the report's
  // CPUID, else every product's)
  if (!roots_error_.empty()) return fail("root: AMD's pinned roots do not load: " + roots_error_);
  auto name_ext = x509::extension(leaf, kOidProductName);
  std::optional<std::string> name_text = name_ext ? der_string(*name_ext) : std::nullopt;
  Product named = name_text ? product_from_name(*name_text) : Product::kUnknown;
  if (named == Product::kUnknown && r.has_cpuid())
    named = product_from_cpuid(r.cpuid_fam_id, r.cpuid_mod_id);
  std::vector<const ProductRoots*> candidates;
  for (const auto& pr : roots_)
    if (named == Product::kUnknown || product_from_name(pr.product) == named)
      candidates.push_back(&pr);
  if (candidates.empty()) {
    if (named != Product::kUnknown)
      return fail(std::string("root: no pinned AMD roots for ") + product_name(named));
    return fail("root: no pinned AMD roots");
  }
  const ProductRoots* chained = nullptr;
  std::string why, reasons;
  for (const ProductRoots* pr : candidates) {
    X509* issuer = vlek ? pr->asvk.get() : pr->ask.get();
    std::string issuer_name = pr->product + (vlek ? " ASVK" : " ASK");
    if (!issuer || !pr->ark) {
      why = "root: no pinned " + issuer_name + " and ARK";
      reasons += (reasons.empty() ? "" : "; ") + why;
      continue;
    }
    auto ok = x509::verify_chain(leaf, {issuer}, {pr->ark.get()}, options_.at, crl_ptrs);
    if (ok) {
      chained = pr;
      break;
    }
    // Tell a bad pinned root apart from a bad certificate.
    auto root_ok = x509::verify_chain(issuer, {}, {pr->ark.get()}, options_.at, crl_ptrs);
    if (!root_ok) {
      why = "root: the pinned " + issuer_name + " does not chain to the pinned " + pr->product +
            " ARK: " + root_ok.error().str();
    } else {
      why = "chain: " + kind + " not signed by the " + issuer_name + " (to the pinned " +
            pr->product + " ARK): " + ok.error().str();
    }
    reasons += (reasons.empty() ? "" : "; ") + why;
  }
  if (!chained && candidates.size() > 1)
    return fail("chain: " + kind + " (product unknown) chains to no pinned AMD root: " + reasons);
  if (!chained) return fail(why);
  Product product = product_from_name(chained->product);

  // signature
  auto key = x509::public_key(leaf);
  if (!key) return fail("signature: " + kind + ": " + key.error().str());
  if (!is_p384(key->get())) return fail("signature: the " + kind + " key is not EC P-384");
  if (!x509::ecdsa_verify_raw(key->get(), EVP_sha384(), r.signed_bytes, r.sig_r, r.sig_s))
    return fail("signature: report not signed by the " + kind);

  // product: a signed CPUID must agree with the certificate's product
  if (r.has_cpuid()) {
    Product cpu = product_from_cpuid(r.cpuid_fam_id, r.cpuid_mod_id);
    if (cpu != Product::kUnknown && cpu != product)
      return fail("product: the " + kind + " is a " + chained->product +
                  " key but the report's CPUID (family " +
                  crypto::hex(std::string(1, static_cast<char>(r.cpuid_fam_id))) + "h, model " +
                  crypto::hex(std::string(1, static_cast<char>(r.cpuid_mod_id))) + "h) is " +
                  product_name(cpu) + "'s");
  }

  // tcb
  Tcb t = decode_tcb(r.reported_tcb, product);
  struct Spl {
    const char* oid;
    const char* ext;
    const char* field;
    uint8_t reported;
  };
  std::vector<Spl> spls = {{kOidBlSpl, "blSPL", "bootloader", t.bootloader},
                           {kOidTeeSpl, "teeSPL", "tee", t.tee},
                           {kOidSnpSpl, "snpSPL", "snp", t.snp},
                           {kOidUcodeSpl, "ucodeSPL", "microcode", t.microcode}};
  if (product == Product::kTurin) spls.push_back({kOidFmcSpl, "fmcSPL", "fmc", t.fmc});
  for (const auto& s : spls) {
    auto ext = x509::extension(leaf, s.oid);
    if (!ext) return fail("tcb: " + kind + " has no " + s.ext + " extension");
    auto v = der_integer(*ext);
    if (!v || *v < 0 || *v > 255)
      return fail("tcb: " + kind + " " + s.ext + " is not an INTEGER 0..255");
    if (*v != s.reported)
      return fail("tcb: " + kind + " " + s.ext + " " + std::to_string(*v) + " != reported_tcb." +
                  s.field + " " + std::to_string(s.reported));
  }

  // chip
  if (!vlek && !all_zero(r.chip_id)) {
    auto ext = x509::extension(leaf, kOidHwId);
    if (!ext) return fail("chip: VCEK has no hwID extension");
    auto id = hwid(*ext);
    if (!id) return fail("chip: VCEK hwID is neither 64 bytes nor an OCTET STRING of 64 (or 8)");
    if (id->size() == 8 && product != Product::kTurin)
      return fail("chip: VCEK hwID has 8 bytes (Turin's form) on a " + chained->product);
    if (!crypto::equal(*id, std::string_view(r.chip_id).substr(0, id->size())))
      return fail("chip: VCEK hwID differs from the report's chip_id");
  }

  Claims c;
  c.tee = kTee;
  c.measurement = crypto::hex(r.measurement);
  c.svn = r.guest_svn;
  c.debug = r.debug();
  c.insecure = false;
  c.report_data = r.report_data;
  c.details = details(r, product, vlek);
  return c;
}

json evidence_from(std::string_view report, std::string_view cert_der) {
  json ev{{"format", kFormat}, {"report", crypto::b64url(report)}};
  if (!cert_der.empty()) {
    bool vlek = report.size() > 0x48 && ((static_cast<uint8_t>(report[0x48]) >> 2) & 7) ==
                                            static_cast<uint32_t>(SigningKey::kVlek);
    ev[vlek ? "vlek" : "vcek"] = crypto::b64url(cert_der);
  }
  return ev;
}

}  // namespace veil::attest::snp
