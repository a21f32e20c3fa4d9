// veil-guard's reports and admin actions: what `prepare` prints for the runtime, `status`,
// and re-registering containers after the programs were reloaded.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"
#include "guard/instance.hpp"
#include "guard/spec.hpp"

namespace veil::guard {

// {"spec":…, "mechs":N, "bpf_error":"…"}; loads the BPF programs first when the spec needs them
// and load is true (and reports why not when that fails).
Result<nlohmann::json> prepare_output(const Instance& inst, const Spec& spec, bool load);

// Loaded mechanisms, kernel counters, daemon counters, guarded containers.
Result<nlohmann::json> status(const Instance& inst);
std::string status_text(const nlohmann::json& s);

// After `load --replace`: writes every live container from the registry back into the maps.
Result<> reregister_all(const Instance& inst);

}  // namespace veil::guard
