// `veil check` and `veil guard ...`: both run veil-guard (the guard's tooling links libbpf and a
// YAML parser, which the static runtime binary does not carry).
#include <unistd.h>

#include <cstring>

#include "attest/tsm/detect.hpp"
#include "base/subprocess.hpp"
#include "cli/commands.hpp"
#include "guard/instance.hpp"
#include "vm/boot.hpp"

namespace veil::cli {
namespace {

Result<int> exec_guard(std::vector<std::string> args) {
  std::string bin = guard::guard_binary();
  args.insert(args.begin(), bin);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  return fail_errno("run " + bin + " (install veil-guard next to veil or set VEIL_GUARD_BIN)");
}

}  // namespace

// What the microvm handler would use here: the accelerator (KVM only if it really boots the
// guest; see vm::choose_accel) and the start time to expect.
nlohmann::json microvm_facts() {
  nlohmann::json j;
  auto assets = vm::find_assets();
  if (!assets) {
    j["available"] = false;
    j["reason"] = assets.error().str();
    return j;
  }
  auto acc = vm::choose_accel(*assets);
  j["available"] = true;
  j["accelerator"] = acc.name;
  if (!acc.reason.empty()) j["kvm_unusable"] = acc.reason;
  j["kernel"] = assets->kernel;
  // Measured (bench/results/microvm.md); KVM: estimated (docs/microvm.md).
  j["expected_start"] = acc.name == "kvm" ? "about 0.1 s from a template"
                                          : "about 0.4 s from a template, 1.5-2 s cold (TCG)";
  return j;
}

// Which evidence kinds this host (or confidential guest) can produce for veil-attest, and why
// the others are absent (attest/tsm/detect.hpp: no attestation code is linked into veil).
nlohmann::json evidence_facts(const std::vector<attest::tsm::Capability>& caps) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& c : caps) {
    nlohmann::json e{{"available", c.available}};
    if (!c.source.empty()) e["source"] = c.source;
    if (!c.reason.empty()) e[c.available ? "note" : "reason"] = c.reason;
    j[c.kind] = e;
  }
  return j;
}

// "evidence: sample (software key; INSECURE, development only); absent: snp (...), ..."
std::string evidence_line(const std::vector<attest::tsm::Capability>& caps) {
  std::string have, absent;
  for (const auto& c : caps) {
    if (c.available) {
      std::string detail = c.source + (c.reason.empty() ? "" : "; " + c.reason);
      have += (have.empty() ? "" : ", ") + c.kind + " (" + detail + ")";
    } else {
      absent += (absent.empty() ? "" : ", ") + c.kind + " (" + c.reason + ")";
    }
  }
  return "evidence: " + (have.empty() ? std::string("none") : have) +
         (absent.empty() ? "" : "; absent: " + absent);
}

Result<int> cmd_check(Context&, int argc, char** argv) {
  std::vector<std::string> args = {guard::guard_binary(), "check"};
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      print(
          "usage: veil check [--json]\n\nPrint how this host enforces each guard protection "
          "(veil-guard check), what the microvm handler would use (accelerator, expected "
          "start) and which attestation evidence it can produce (snp, tdx, tpm, sample).\n"
          "  --json   machine-readable output\n");
      return 0;
    }
    json |= a == "--json";
    args.push_back(a);
  }
  auto guard = run_capture(args);
  if (!guard)
    return std::unexpected(guard.error().wrap("run veil-guard (install it next to veil or set "
                                              "VEIL_GUARD_BIN)"));
  auto mv = microvm_facts();
  auto caps = attest::tsm::detect();
  if (json) {
    auto j = nlohmann::json::parse(guard->out, nullptr, false);
    if (!j.is_object()) j = nlohmann::json{{"guard_output", guard->out}};
    j["microvm"] = mv;
    j["evidence"] = evidence_facts(caps);
    print(j.dump(2) + "\n");
  } else {
    std::string line = "microvm: ";
    if (!mv.value("available", false))
      line += "unavailable (" + mv.value("reason", "") + ")";
    else
      line += "accelerator " + mv.value("accelerator", "") +
              (mv.contains("kvm_unusable") ? " (" + mv["kvm_unusable"].get<std::string>() + ")" : "") +
              "; expected start " + mv.value("expected_start", "");
    print(guard->out + line + "\n" + evidence_line(caps) + "\n");
  }
  if (!guard->err.empty()) (void)!::write(2, guard->err.data(), guard->err.size());
  return guard->status;
}

Result<int> cmd_guard(Context&, int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  if (args.empty()) args.emplace_back("--help");
  return exec_guard(args);
}

}  // namespace veil::cli
