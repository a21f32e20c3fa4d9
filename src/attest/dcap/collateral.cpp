#include "attest/dcap/collateral.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "attest/crypto.hpp"
#include "base/file.hpp"

namespace veil::attest::dcap {
namespace {

constexpr const char* kNames[] = {"UpToDate",
                                  "SWHardeningNeeded",
                                  "ConfigurationNeeded",
                                  "ConfigurationAndSWHardeningNeeded",
                                  "OutOfDate",
                                  "OutOfDateConfigurationNeeded",
                                  "Revoked"};

constexpr size_t kMaxCollateralFile = 1 << 20;
constexpr size_t kMaxLevels = 4096;

// --- raw JSON scanning (only to find the exact bytes of a member; json::parse validates) ---

size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

// s[i] == '"'; the index after the closing quote.
Result<size_t> scan_string(std::string_view s, size_t i) {
  for (i++; i < s.size(); i++) {
    if (s[i] == '\\')
      i++;
    else if (s[i] == '"')
      return i + 1;
  }
  return fail("collateral: unterminated JSON string");
}

Result<size_t> scan_value(std::string_view s, size_t i) {
  if (i >= s.size()) return fail("collateral: JSON ends early");
  if (s[i] == '"') return scan_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        i = VEIL_TRY(scan_string(s, i));
        continue;
      }
      if (c == '{' || c == '[') depth++;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      i++;
    }
    return fail("collateral: unbalanced JSON");
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
         s[i] != '\n' && s[i] != '\r')
    i++;
  return i;
}

// --- typed fields of untrusted JSON, without exceptions ---

Result<const json*> field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object()) return fail("collateral: " + where + " is not an object");
  auto it = j.find(key);
  if (it == j.end()) return fail("collateral: " + where + " has no '" + key + "'");
  return &*it;
}

Result<std::string> text(const json& j, const char* key, const std::string& where) {
  const json* v = VEIL_TRY(field(j, key, where));
  if (!v->is_string()) return fail("collateral: " + where + "." + key + " is not a string");
  return v->get<std::string>();
}

Result<uint64_t> number(const json& j, const char* key, uint64_t max, const std::string& where) {
  const json* v = VEIL_TRY(field(j, key, where));
  if (!v->is_number_unsigned() || v->get<uint64_t>() > max)
    return fail("collateral: " + where + "." + key + " is not an integer 0.." +
                std::to_string(max));
  return v->get<uint64_t>();
}

Result<std::string> hex_bytes(const json& j, const char* key, size_t n, const std::string& where) {
  auto t = VEIL_TRY(text(j, key, where));
  auto b = crypto::unhex(t);
  if (!b || b->size() != n)
    return fail("collateral: " + where + "." + key + " is not " + std::to_string(n) +
                " bytes of hex");
  return *b;
}

Result<int64_t> time_field(const json& j, const char* key, const std::string& where) {
  auto t = VEIL_TRY(text(j, key, where));
  auto v = parse_time(t);
  if (!v) return fail("collateral: " + where + "." + key + ": " + v.error().msg);
  return *v;
}

Result<TcbStatus> status_field(const json& j, const std::string& where) {
  auto t = VEIL_TRY(text(j, "tcbStatus", where));
  auto s = status_from_name(t);
  if (!s) return fail("collateral: " + where + ": unknown tcbStatus \"" + t + "\"");
  return *s;
}

Result<const json*> array(const json& j, const char* key, const std::string& where) {
  const json* v = VEIL_TRY(field(j, key, where));
  if (!v->is_array() || v->empty() || v->size() > kMaxLevels)
    return fail("collateral: " + where + "." + key + " is not a non-empty array");
  return v;
}

Result<std::array<uint8_t, 16>> components(const json& tcb, const char* key,
                                           const std::string& where) {
  const json* a = VEIL_TRY(array(tcb, key, where));
  if (a->size() != 16) return fail("collateral: " + where + "." + key + " has not 16 entries");
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < 16; i++)
    out[i] = static_cast<uint8_t>(
        VEIL_TRY(number((*a)[i], "svn", 255, where + "." + key + "[" + std::to_string(i) + "]")));
  return out;
}

template <class Svn>
Result<std::vector<std::pair<Svn, TcbStatus>>> isv_levels(const json& j, uint64_t max,
                                                          const std::string& where) {
  const json* a = VEIL_TRY(array(j, "tcbLevels", where));
  std::vector<std::pair<Svn, TcbStatus>> out;
  for (size_t i = 0; i < a->size(); i++) {
    std::string w = where + ".tcbLevels[" + std::to_string(i) + "]";
    const json* tcb = VEIL_TRY(field((*a)[i], "tcb", w));
    auto svn = static_cast<Svn>(VEIL_TRY(number(*tcb, "isvsvn", max, w + ".tcb")));
    out.emplace_back(svn, VEIL_TRY(status_field((*a)[i], w)));
  }
  return out;
}

Result<ModuleIdentity> module_identity(const json& j, bool with_levels, const std::string& where) {
  ModuleIdentity m;
  if (with_levels) m.id = VEIL_TRY(text(j, "id", where));
  m.mr_signer = VEIL_TRY(hex_bytes(j, "mrsigner", 48, where));
  m.attributes = VEIL_TRY(hex_bytes(j, "attributes", 8, where));
  m.attributes_mask = VEIL_TRY(hex_bytes(j, "attributesMask", 8, where));
  if (with_levels) m.levels = VEIL_TRY(isv_levels<uint8_t>(j, 255, where));
  return m;
}

std::string iso(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::string> read_collateral_file(const std::string& path) {
  auto text = veil::read_file(path, kMaxCollateralFile);
  if (!text) return fail("collateral: " + text.error().str());
  return text;
}

// A signed PCS file: the inner object's exact text checked against the signature, then parsed.
Result<json> signed_object(std::string_view file, const char* key, EVP_PKEY* signer) {
  std::string where = std::string(key) + " file";
  json whole = json::parse(file, nullptr, false);
  if (whole.is_discarded() || !whole.is_object())
    return fail("collateral: " + where + " is not a JSON object");
  auto body = VEIL_TRY(raw_member(file, key));
  auto sig = VEIL_TRY(hex_bytes(whole, "signature", 64, where));
  if (!x509::ecdsa_verify_raw(signer, EVP_sha256(), body, std::string_view(sig).substr(0, 32),
                              std::string_view(sig).substr(32)))
    return fail("collateral: the " + std::string(key) +
                " signature does not verify with the TCB signing certificate");
  json inner = json::parse(body, nullptr, false);
  if (inner.is_discarded() || !inner.is_object())
    return fail("collateral: " + std::string(key) + " is not a JSON object");
  return inner;
}

Result<> check_window(const char* what, int64_t issue, int64_t next, int64_t at) {
  if (at < issue)
    return fail(std::string("collateral: ") + what + " not valid before " + iso(issue));
  if (at > next) return fail(std::string("collateral: ") + what + " expired at " + iso(next));
  return {};
}

// Module and QE results fold into the platform's status as Intel's QVL does.
TcbStatus fold(TcbStatus platform, TcbStatus other) {
  using enum TcbStatus;
  if (other == kRevoked) return kRevoked;
  if (other == kUpToDate) return platform;
  if (platform == kUpToDate || platform == kSWHardeningNeeded) return kOutOfDate;
  if (platform == kConfigurationNeeded || platform == kConfigurationAndSWHardeningNeeded)
    return kOutOfDateConfigurationNeeded;
  return platform;
}

bool masked_equal(std::string_view value, std::string_view mask, std::string_view expected) {
  if (value.size() != mask.size() || mask.size() != expected.size()) return false;
  for (size_t i = 0; i < value.size(); i++)
    if ((value[i] & mask[i]) != expected[i]) return false;
  return true;
}

std::string hexs(std::string_view b) {
  return crypto::hex(b);
}

}  // namespace

const char* status_name(TcbStatus s) {
  return kNames[static_cast<int>(s)];
}

std::optional<TcbStatus> status_from_name(std::string_view name) {
  for (int i = 0; i < 7; i++)
    if (name == kNames[i]) return static_cast<TcbStatus>(i);
  return std::nullopt;
}

Result<std::string_view> raw_member(std::string_view s, std::string_view key) {
  size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') return fail("collateral: not a JSON object");
  i = skip_ws(s, i + 1);
  std::optional<std::string_view> found;
  while (i < s.size() && s[i] != '}') {
    if (s[i] != '"') return fail("collateral: malformed JSON object");
    size_t end = VEIL_TRY(scan_string(s, i));
    std::string_view k = s.substr(i + 1, end - i - 2);
    i = skip_ws(s, end);
    if (i >= s.size() || s[i] != ':') return fail("collateral: malformed JSON object");
    i = skip_ws(s, i + 1);
    size_t vend = VEIL_TRY(scan_value(s, i));
    if (k == key) {
      if (found) return fail("collateral: '" + std::string(key) + "' appears twice");
      found = s.substr(i, vend - i);
    }
    i = skip_ws(s, vend);
    if (i < s.size() && s[i] == ',') i = skip_ws(s, i + 1);
  }
  if (!found) return fail("collateral: no '" + std::string(key) + "' member");
  return *found;
}

Result<int64_t> parse_time(std::string_view t) {
  std::tm tm{};
  int n = 0;
  std::string s(t);
  if (s.size() != 20 ||
      sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
      n != 20 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return fail("not a time like 2025-10-27T13:07:17Z: \"" + s + "\"");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

Result<TcbInfo> parse_tcb_info(const json& j) {
  const std::string w = "tcbInfo";
  TcbInfo t;
  t.id = VEIL_TRY(text(j, "id", w));
  if (t.id != "TDX" && t.id != "SGX")
    return fail("collateral: tcbInfo.id \"" + t.id + "\" is neither TDX nor SGX");
  if (VEIL_TRY(number(j, "version", 1000, w)) != 3)
    return fail("collateral: tcbInfo.version is not 3 (PCS API v4)");
  t.issue_date = VEIL_TRY(time_field(j, "issueDate", w));
  t.next_update = VEIL_TRY(time_field(j, "nextUpdate", w));
  t.fmspc = VEIL_TRY(hex_bytes(j, "fmspc", 6, w));
  t.pce_id = VEIL_TRY(hex_bytes(j, "pceId", 2, w));
  if (VEIL_TRY(number(j, "tcbType", 1000, w)) != 0)
    return fail("collateral: tcbInfo.tcbType is not 0");
  bool tdx = t.id == "TDX";
  const json* levels = VEIL_TRY(array(j, "tcbLevels", w));
  for (size_t i = 0; i < levels->size(); i++) {
    std::string lw = w + ".tcbLevels[" + std::to_string(i) + "]";
    const json& l = (*levels)[i];
    const json* tcb = VEIL_TRY(field(l, "tcb", lw));
    TcbLevel level;
    level.sgx = VEIL_TRY(components(*tcb, "sgxtcbcomponents", lw + ".tcb"));
    level.pce_svn = static_cast<uint16_t>(VEIL_TRY(number(*tcb, "pcesvn", 65535, lw + ".tcb")));
    if (tdx) level.tdx = VEIL_TRY(components(*tcb, "tdxtcbcomponents", lw + ".tcb"));
    level.status = VEIL_TRY(status_field(l, lw));
    t.levels.push_back(level);
  }
  if (tdx) {
    const json* module = VEIL_TRY(field(j, "tdxModule", w));
    t.tdx_module = VEIL_TRY(module_identity(*module, false, w + ".tdxModule"));
    if (j.contains("tdxModuleIdentities")) {
      const json* ids = VEIL_TRY(array(j, "tdxModuleIdentities", w));
      for (size_t i = 0; i < ids->size(); i++)
        t.module_identities.push_back(VEIL_TRY(module_identity(
            (*ids)[i], true, w + ".tdxModuleIdentities[" + std::to_string(i) + "]")));
    }
  }
  return t;
}

Result<QeIdentity> parse_qe_identity(const json& j) {
  const std::string w = "enclaveIdentity";
  QeIdentity q;
  q.id = VEIL_TRY(text(j, "id", w));
  if (VEIL_TRY(number(j, "version", 1000, w)) != 2)
    return fail("collateral: enclaveIdentity.version is not 2 (PCS API v4)");
  q.issue_date = VEIL_TRY(time_field(j, "issueDate", w));
  q.next_update = VEIL_TRY(time_field(j, "nextUpdate", w));
  q.misc_select = VEIL_TRY(hex_bytes(j, "miscselect", 4, w));
  q.misc_select_mask = VEIL_TRY(hex_bytes(j, "miscselectMask", 4, w));
  q.attributes = VEIL_TRY(hex_bytes(j, "attributes", 16, w));
  q.attributes_mask = VEIL_TRY(hex_bytes(j, "attributesMask", 16, w));
  q.mr_signer = VEIL_TRY(hex_bytes(j, "mrsigner", 32, w));
  q.isv_prod_id = static_cast<uint16_t>(VEIL_TRY(number(j, "isvprodid", 65535, w)));
  q.levels = VEIL_TRY(isv_levels<uint16_t>(j, 65535, w));
  return q;
}

Result<Collateral> check_collateral(std::string_view tcb_info_file,
                                    std::string_view qe_identity_file,
                                    std::string_view signing_chain_pem, X509* root, int64_t at) {
  if (at == 0) at = static_cast<int64_t>(std::time(nullptr));
  auto certs = x509::from_pem(signing_chain_pem);
  if (!certs) return fail("collateral: tcb_signing_chain.pem: " + certs.error().msg);
  X509* signer = (*certs)[0].get();
  if (x509::common_name(signer).find("SGX TCB Signing") == std::string::npos)
    return fail("collateral: the signing certificate is not an SGX TCB Signing certificate (" +
                x509::subject(signer) + ")");
  std::string root_der = x509::der(root);
  std::vector<X509*> intermediates;
  for (size_t i = 1; i < certs->size(); i++)
    if (x509::der((*certs)[i].get()) != root_der) intermediates.push_back((*certs)[i].get());
  if (auto ok = x509::verify_chain(signer, intermediates, {root}, at); !ok)
    return fail("collateral: TCB signing certificate: " + ok.error().msg);
  auto key = VEIL_TRY(x509::public_key(signer));

  Collateral c;
  json tcb = VEIL_TRY(signed_object(tcb_info_file, "tcbInfo", key.get()));
  json qe = VEIL_TRY(signed_object(qe_identity_file, "enclaveIdentity", key.get()));
  c.tcb_info = VEIL_TRY(parse_tcb_info(tcb));
  c.qe_identity = VEIL_TRY(parse_qe_identity(qe));
  VEIL_CHECK(check_window("tcbInfo", c.tcb_info.issue_date, c.tcb_info.next_update, at));
  VEIL_CHECK(
      check_window("enclaveIdentity", c.qe_identity.issue_date, c.qe_identity.next_update, at));
  c.valid_from = std::max(c.tcb_info.issue_date, c.qe_identity.issue_date);
  c.valid_until = std::min(c.tcb_info.next_update, c.qe_identity.next_update);
  std::vector<X509*> used = intermediates;
  used.push_back(signer);
  used.push_back(root);
  for (X509* cert : used) {
    auto [from, until] = VEIL_TRY(x509::validity(cert));
    c.valid_from = std::max(c.valid_from, from);
    c.valid_until = std::min(c.valid_until, until);
  }
  return c;
}

Result<CollateralFiles> read_collateral(const std::string& dir, std::string_view fmspc) {
  std::string tcb = dir + "/tcbInfo-" + crypto::hex(fmspc) + ".json";
  if (!path_exists(tcb)) tcb = dir + "/tcbInfo.json";
  std::string qe = dir + "/enclaveIdentity.json";
  if (!path_exists(qe)) qe = dir + "/qeIdentity.json";
  CollateralFiles f;
  f.tcb_info = VEIL_TRY(read_collateral_file(tcb));
  f.qe_identity = VEIL_TRY(read_collateral_file(qe));
  f.signing_chain = VEIL_TRY(read_collateral_file(dir + "/tcb_signing_chain.pem"));
  return f;
}

Result<Collateral> load_collateral(const std::string& dir, std::string_view fmspc, X509* root,
                                   int64_t at) {
  auto f = VEIL_TRY(read_collateral(dir, fmspc));
  return check_collateral(f.tcb_info, f.qe_identity, f.signing_chain, root, at);
}

Result<TcbStatus> evaluate_tcb(const Collateral& c, const Quote& q, const PckExtension& pck) {
  const TcbInfo& t = c.tcb_info;
  const QeIdentity& qi = c.qe_identity;
  const char* tee = q.tdx() ? "TDX" : "SGX";
  if (t.id != tee) return fail("collateral: tcbInfo is for " + t.id + ", the quote is " + tee);
  if (qi.id != (q.tdx() ? "TD_QE" : "QE"))
    return fail("collateral: enclaveIdentity \"" + qi.id + "\" is not the " + tee +
                " quoting enclave's");
  if (pck.fmspc != t.fmspc)
    return fail("collateral: FMSPC mismatch: the PCK certificate has " + hexs(pck.fmspc) +
                ", tcbInfo is for " + hexs(t.fmspc));
  if (pck.pce_id != t.pce_id)
    return fail("collateral: PCE-ID mismatch: the PCK certificate has " + hexs(pck.pce_id) +
                ", tcbInfo is for " + hexs(t.pce_id));

  // The quoting enclave.
  const EnclaveReport& qe = q.qe_report;
  if (!masked_equal(qe.misc_select, qi.misc_select_mask, qi.misc_select))
    return fail("collateral: the QE report's MISCSELECT does not match the QE identity");
  if (!masked_equal(qe.attributes, qi.attributes_mask, qi.attributes))
    return fail("collateral: the QE report's ATTRIBUTES do not match the QE identity");
  if (qe.mr_signer != qi.mr_signer)
    return fail("collateral: the QE report's MRSIGNER is not the QE identity's");
  if (qe.isv_prod_id != qi.isv_prod_id)
    return fail("collateral: the QE report's ISVPRODID " + std::to_string(qe.isv_prod_id) +
                " is not the QE identity's " + std::to_string(qi.isv_prod_id));
  std::optional<TcbStatus> qe_status;
  for (auto& [svn, status] : qi.levels)
    if (qe.isv_svn >= svn) {
      qe_status = status;
      break;
    }
  if (!qe_status)
    return fail("tcb: QE ISVSVN " + std::to_string(qe.isv_svn) +
                " is below every QE identity level (not supported)");

  // The platform: SGX components and PCESVN from the PCK certificate, TDX's from the TD report.
  const TcbLevel* level = nullptr;
  std::string_view tee_tcb_svn = q.td ? std::string_view(q.td->tee_tcb_svn) : "";
  for (const TcbLevel& l : t.levels) {
    bool ok = pck.pce_svn >= l.pce_svn;
    for (size_t i = 0; ok && i < 16; i++) ok = pck.tcb_comp[i] >= l.sgx[i];
    if (q.tdx()) {
      size_t from = static_cast<uint8_t>(tee_tcb_svn[1]) > 0 ? 2 : 0;
      for (size_t i = from; ok && i < 16; i++)
        ok = static_cast<uint8_t>(tee_tcb_svn[i]) >= l.tdx[i];
    }
    if (ok) {
      level = &l;
      break;
    }
  }
  if (!level)
    return fail(std::string("tcb: no TCB level matches the platform's ") +
                (q.tdx() ? "SGX and TDX components" : "SGX components and PCESVN") +
                " (not supported)");
  TcbStatus status = level->status;

  // The TDX module.
  if (q.tdx()) {
    uint8_t version = static_cast<uint8_t>(tee_tcb_svn[1]);
    const ModuleIdentity* module = nullptr;
    std::string want;
    if (version > 0) {
      char id[16];
      snprintf(id, sizeof id, "TDX_%02X", version);
      want = id;
      for (const ModuleIdentity& m : t.module_identities) {
        std::string up = m.id;
        for (char& ch : up) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
        if (up == want) module = &m;
      }
      if (!module)
        return fail("collateral: tcbInfo has no TDX module identity " + want +
                    " (TEE_TCB_SVN[1] = " + std::to_string(version) + ")");
    } else {
      module = &*t.tdx_module;
    }
    if (q.td->mr_signer_seam != module->mr_signer)
      return fail("collateral: the TD report's MRSIGNERSEAM is not the TDX module's signer");
    if (q.td->seam_attributes.find_first_not_of('\0') != std::string::npos ||
        !masked_equal(q.td->seam_attributes, module->attributes_mask, module->attributes))
      return fail("collateral: the TD report's SEAMATTRIBUTES do not match the TDX module");
    if (version > 0) {
      uint8_t isv_svn = static_cast<uint8_t>(tee_tcb_svn[0]);
      std::optional<TcbStatus> module_status;
      for (auto& [svn, s] : module->levels)
        if (isv_svn >= svn) {
          module_status = s;
          break;
        }
      if (!module_status)
        return fail("tcb: TDX module " + want + " ISVSVN " + std::to_string(isv_svn) +
                    " is below every level (not supported)");
      status = fold(status, *module_status);
    }
  }
  return fold(status, *qe_status);
}

}  // namespace veil::attest::dcap
