// veil-guard: loads the guard's BPF programs, compiles policies for the runtime, runs the daemon
// that turns kernel decisions into the audit stream, and reports what this host can enforce.
// `veil guard ...` and `veil check` run this binary. Exit codes: 0 ok, 1 failed, 2 usage.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "base/file.hpp"
#include "guard/bpf/loader.hpp"
#include "guard/daemon/daemon.hpp"
#include "guard/host/probe.hpp"
#include "guard/host/status.hpp"
#include "guard/policy/policy.hpp"

using namespace veil;
using namespace veil::guard;

namespace {

int report(const Result<>& r) {
  if (!r) {
    std::fprintf(stderr, "veil-guard: %s\n", r.error().str().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"veil-guard: runtime protection for veil sandboxes (BPF, fanotify, seccomp)"};
  app.require_subcommand(1);
  Instance inst = Instance::from_env();
  app.add_option("--dir", inst.run_dir, "run directory: sockets, audit log, registry")
      ->capture_default_str();
  app.add_option("--bpffs", inst.bpffs, "bpffs directory for the pinned programs and maps")
      ->capture_default_str();
  app.add_option("--policy-dir", inst.policy_dir, "where named policies live (<name>.yaml)")
      ->capture_default_str();

  bool replace = false;
  auto* load_cmd = app.add_subcommand("load", "load and pin the BPF programs (idempotent)");
  load_cmd->add_flag("--replace", replace, "reload even when the same version is loaded");
  auto* unload_cmd = app.add_subcommand("unload", "detach the programs and remove the pins");

  std::string policy_ref;
  bool no_load = false;
  auto* prepare_cmd =
      app.add_subcommand("prepare", "validate and compile a policy for a container (JSON out)");
  prepare_cmd->add_option("--policy", policy_ref, "default, a name in --policy-dir, or a path")
      ->required();
  prepare_cmd->add_flag("--no-load", no_load, "do not load the BPF programs if missing");

  auto* check_cmd = app.add_subcommand("check", "print how this host enforces each protection");
  bool json_out = false;
  check_cmd->add_flag("--json", json_out, "machine-readable output");

  auto* status_cmd = app.add_subcommand("status", "loaded programs, counters, guarded containers");
  status_cmd->add_flag("--json", json_out, "machine-readable output");

  DaemonOptions dopts;
  auto* daemon_cmd = app.add_subcommand("daemon", "run the guard daemon (foreground)");
  daemon_cmd->add_option("--max-log-size", dopts.max_log_bytes, "rotate the audit log at this size")
      ->capture_default_str();
  daemon_cmd->add_option("--log-files", dopts.max_log_files, "rotated audit logs kept")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (*load_cmd) {
    auto r = load(inst, replace);
    if (!r) return report(std::unexpected(r.error()));
    std::printf("guard %s in %s: %s\n", r->reused ? "already loaded" : "loaded", inst.bpffs.c_str(),
                mechs_string(r->mechs).c_str());
    if (!r->lsm_refusal.empty()) std::printf("BPF LSM not used: %s\n", r->lsm_refusal.c_str());
    if (!r->reused) return report(reregister_all(inst));
    return 0;
  }
  if (*unload_cmd) return report(unload(inst));
  if (*prepare_cmd) {
    auto spec = load_policy(policy_ref, inst.policy_dir);
    if (!spec) return report(std::unexpected(spec.error()));
    auto out = prepare_output(inst, *spec, !no_load);
    if (!out) return report(std::unexpected(out.error()));
    std::cout << out->dump() << "\n";
    return 0;
  }
  if (*check_cmd) {
    auto probe = probe_host(inst);
    std::cout << (json_out ? probe_json(probe).dump(2) + "\n" : probe_table(probe));
    return 0;
  }
  if (*status_cmd) {
    auto s = status(inst);
    if (!s) return report(std::unexpected(s.error()));
    std::cout << (json_out ? s->dump(2) + "\n" : status_text(*s));
    return 0;
  }
  if (*daemon_cmd) return report(run_daemon(inst, dopts));
  return 2;
}
