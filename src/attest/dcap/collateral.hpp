// Intel PCS collateral (API v4): TCB info v3 ({"tcbInfo":{…},"signature":hex}) and QE identity v2
// ({"enclaveIdentity":{…},"signature":hex}), each signed (ECDSA P-256 / SHA-256 over the exact
// bytes of the inner object as the file holds them) by Intel's "SGX TCB Signing" certificate,
// which PCS sends in an HTTP header (TCB-Info-Issuer-Chain) and which must chain to the pinned
// root. The TCB evaluation follows Intel's quote verification library (QVL):
//   - the first TCB level (PCS order: newest first) whose 16 SGX components and PCESVN are all <=
//     the PCK certificate's; for TDX, the first such level whose 16 TDX components are also <=
//     the TD report's TEE_TCB_SVN (bytes 0 and 1, the TDX module's, skipped when
//     TEE_TCB_SVN[1] > 0); no level: "not supported" (refused);
//   - TDX module: TEE_TCB_SVN[1] > 0 selects tdxModuleIdentities "TDX_<%02X of it>" (refused when
//     absent), else tdxModule; MRSIGNERSEAM must equal its mrsigner and SEAMATTRIBUTES must be
//     zero and equal its attributes; with an identity, the first of its levels with isvsvn <=
//     TEE_TCB_SVN[0] gives the module status (none: refused); module OutOfDate makes UpToDate /
//     SWHardeningNeeded OutOfDate and the Configuration* ones OutOfDateConfigurationNeeded,
//     module Revoked makes Revoked;
//   - QE identity: MISCSELECT and ATTRIBUTES under their masks, MRSIGNER and ISVPRODID must
//     match (else refused); the first level with isvsvn <= the QE's ISVSVN gives its status (none:
//     refused); QE OutOfDate and Revoked fold in as for the module.
// Not done: TD relaunch advice (TD report 1.5's TEE_TCB_SVN2), advisory IDs, PCK CRLs.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/dcap/pck.hpp"
#include "attest/dcap/quote.hpp"
#include "base/error.hpp"

namespace veil::attest::dcap {

using json = nlohmann::json;

enum class TcbStatus {
  kUpToDate,
  kSWHardeningNeeded,
  kConfigurationNeeded,
  kConfigurationAndSWHardeningNeeded,
  kOutOfDate,
  kOutOfDateConfigurationNeeded,
  kRevoked,
};
const char* status_name(TcbStatus s);  // Intel's spelling, e.g. "OutOfDate"
std::optional<TcbStatus> status_from_name(std::string_view name);

struct TcbLevel {
  std::array<uint8_t, 16> sgx{};
  uint16_t pce_svn = 0;
  std::array<uint8_t, 16> tdx{};  // TDX tcbInfo only
  TcbStatus status = TcbStatus::kRevoked;
};

struct ModuleIdentity {
  std::string id;                                     // "TDX_03"; "" for tcbInfo.tdxModule
  std::string mr_signer;                              // 48 bytes
  std::string attributes;                             // 8 bytes
  std::string attributes_mask;                        // 8 bytes
  std::vector<std::pair<uint8_t, TcbStatus>> levels;  // (isvsvn, status), as listed
};

struct TcbInfo {
  std::string id;  // "TDX" or "SGX"
  int64_t issue_date = 0;
  int64_t next_update = 0;
  std::string fmspc;   // 6 bytes
  std::string pce_id;  // 2 bytes
  std::vector<TcbLevel> levels;
  std::optional<ModuleIdentity> tdx_module;       // TDX
  std::vector<ModuleIdentity> module_identities;  // TDX
};

struct QeIdentity {
  std::string id;  // "TD_QE" or "QE"
  int64_t issue_date = 0;
  int64_t next_update = 0;
  std::string misc_select, misc_select_mask;  // 4 bytes each, in report byte order
  std::string attributes, attributes_mask;    // 16 bytes each
  std::string mr_signer;                      // 32 bytes
  uint16_t isv_prod_id = 0;
  std::vector<std::pair<uint16_t, TcbStatus>> levels;  // (isvsvn, status), as listed
};

// The exact text of a top-level member of a JSON object (the bytes a PCS signature covers).
Result<std::string_view> raw_member(std::string_view json_text, std::string_view key);
// "2025-10-27T13:07:17Z" as Unix seconds.
Result<int64_t> parse_time(std::string_view iso8601);

// The parsed inner objects; errors start with "collateral: ".
Result<TcbInfo> parse_tcb_info(const json& tcb_info);
Result<QeIdentity> parse_qe_identity(const json& enclave_identity);

struct Collateral {
  TcbInfo tcb_info;
  QeIdentity qe_identity;
  // When the checks hold: both files' issueDate..nextUpdate and the signing chain's validity.
  int64_t valid_from = 0, valid_until = 0;
};

// The three files of a collateral directory, as read (see load_collateral()).
struct CollateralFiles {
  std::string tcb_info, qe_identity, signing_chain;
};
Result<CollateralFiles> read_collateral(const std::string& dir, std::string_view fmspc);

// Reads a collateral directory:
//   tcbInfo-<fmspc, 12 lowercase hex>.json or tcbInfo.json   TCB info v3 (PCS /tcb)
//   enclaveIdentity.json or qeIdentity.json                  QE identity v2 (PCS /qe/identity)
//   tcb_signing_chain.pem   Intel's SGX TCB Signing certificate (+ the root, optional), i.e. the
//                           URL-decoded TCB-Info-Issuer-Chain header
// and checks both signatures, the signing certificate's chain to `root` at `at`, and that `at`
// (Unix seconds; 0: now) lies between each file's issueDate and nextUpdate. `fmspc` (6 bytes)
// picks the per-platform file when there is one.
Result<Collateral> load_collateral(const std::string& dir, std::string_view fmspc, X509* root,
                                   int64_t at);
// The same from file contents (tests).
Result<Collateral> check_collateral(std::string_view tcb_info_file,
                                    std::string_view qe_identity_file,
                                    std::string_view signing_chain_pem, X509* root, int64_t at);

// The TCB status of a verified quote under the collateral (see the top of this file). Errors:
// "collateral: …" when the collateral does not fit the quote, "tcb: … not supported" when no level
// matches. A Revoked result is returned as a status (the verifier refuses it).
Result<TcbStatus> evaluate_tcb(const Collateral& c, const Quote& q, const PckExtension& pck);

}  // namespace veil::attest::dcap
