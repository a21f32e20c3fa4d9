#include "runtime/microvm/guest_guard.hpp"

#include "base/log.hpp"
#include "guard/control.hpp"
#include "guard/instance.hpp"
#include "runtime/guard_setup.hpp"
#include "vm/reports.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;

Result<json> guest_guard_request(const json& config) {
  if (!config.contains("annotations") || !config["annotations"].is_object() ||
      !config["annotations"].contains(kGuardAnnotation))
    return json();
  const auto& ref = config["annotations"][kGuardAnnotation];
  if (!ref.is_string()) return fail("annotations.org.veil.guard.policy: not a string");
  auto compiled =
      VEIL_TRY(compile_guard_policy(guard::Instance::from_env(), ref.get<std::string>()));
  auto spec = VEIL_TRY(guard::Spec::from_json(compiled["spec"]));
  if (spec.exec_rules != guard::Mode::off)
    return fail("guard policy " + spec.name +
                ": exec allow/deny rules are decided by the guard daemon, which does not run in "
                "a microVM guest");
  return json{{"spec", compiled["spec"]}};
}

void forward_guest_event(const std::string& payload, const std::string& container_id) {
  auto e = json::parse(payload, nullptr, false);
  if (!e.is_object()) return;
  e["container"] = container_id;
  auto r = guard::control_call(guard::Instance::from_env(), {{"op", "forward"}, {"event", e}}, -1,
                               2'000);
  if (!r)
    log::warn("microvm " + container_id + ": guard event not forwarded (" + r.error().str() +
              "): " + vm::error_message(e.dump()));
}

}  // namespace veil::runtime::microvm
