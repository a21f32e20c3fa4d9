#include "attest/tsm/attester.hpp"

#include "attest/tsm/evidence.hpp"
#include "attest/tsm/sev_guest.hpp"
#include "attest/tsm/tdx_guest.hpp"
#include "base/file.hpp"

namespace veil::attest::tsm {

Result<std::unique_ptr<TsmAttester>> TsmAttester::open(Options o) {
  if (!o.tee.empty() && o.tee != kSnpTee && o.tee != kTdxTee)
    return fail("tsm: TEE \"" + o.tee + "\" is not supported (snp or tdx)");
  TsmProbe probe = probe_tsm(o.paths);
  std::string missing;
  for (const auto& c : detect(o.paths, probe)) {
    if (c.kind != kSnpTee && c.kind != kTdxTee) continue;
    if (!o.tee.empty() && c.kind != o.tee) continue;
    if (!c.available) {
      missing += (missing.empty() ? "" : "; ") + c.kind + ": " + c.reason;
      continue;
    }
    Source s = tee_of_provider(probe.provider) == c.kind ? Source::kConfigfs : Source::kDevice;
    std::string tee = c.kind;
    return std::unique_ptr<TsmAttester>(new TsmAttester(std::move(o), tee, s));
  }
  if (!probe.provider.empty() && tee_of_provider(probe.provider).empty())
    return fail("tsm: provider \"" + probe.provider + "\" is not supported (" + missing + ")");
  return fail("no TEE guest interface (" + missing + ")");
}

Result<json> TsmAttester::evidence(std::string_view report_data) {
  std::string field = VEIL_TRY(inblob_for(report_data));
  if (source_ == Source::kConfigfs) {
    ConfigfsTsm tsm(opts_.paths.tsm_report(), opts_.hook);
    auto r = VEIL_TRY(tsm.generate(field, opts_.privlevel));
    std::string tee = tee_of_provider(r.provider);
    if (tee.empty()) return fail("tsm: provider \"" + r.provider + "\" is not supported");
    if (tee != tee_)
      return fail("tsm: provider \"" + r.provider + "\" gives " + tee + " evidence, not " + tee_);
    if (tee == kSnpTee) return snp_evidence(r.outblob, r.auxblob, field);
    auto ccel = read_file(opts_.paths.ccel());  // optional: the verifier may want RTMR replay
    return tdx_evidence(r.outblob, ccel ? *ccel : "", field);
  }
  if (tee_ == kSnpTee) {
    auto r =
        VEIL_TRY(sev_guest_report(opts_.paths.sev_guest(), field, opts_.privlevel.value_or(0)));
    return snp_evidence(r.report, r.cert_table, field);
  }
  auto quote = VEIL_TRY(tdx_guest_quote(opts_.paths.tdx_guest(), field));
  auto ccel = read_file(opts_.paths.ccel());
  return tdx_evidence(quote, ccel ? *ccel : "", field);
}

}  // namespace veil::attest::tsm
