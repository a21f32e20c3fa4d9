// state and list.
#include "base/strings.hpp"
#include "cli/commands.hpp"

namespace veil::cli {

Result<int> cmd_state(Context& ctx, int argc, char** argv) {
  bool help = false;
  auto pos = VEIL_TRY(parse_command("state",
                                    "usage: veil state ID\n\nPrint the container's state (JSON).\n",
                                    argc, argv, {}, 1, 1, &help));
  if (help) return 0;
  auto l = VEIL_TRY(runtime::inspect(ctx.globals, pos[0]));
  print(l.state.public_json(l.status).dump(2) + "\n");
  return 0;
}

Result<int> cmd_list(Context& ctx, int argc, char** argv) {
  std::string format = "table";
  bool quiet = false, help = false;
  VEIL_TRY(parse_command("list",
                         "usage: veil list [--format table|json] [--quiet]\n\nList containers.\n"
                         "  -f, --format F  table (default) or json\n  -q, --quiet     only ids\n",
                         argc, argv,
                         {{"format", 'f', true, to(format)}, {"quiet", 'q', false, flag(quiet)}}, 0,
                         0, &help));
  if (help) return 0;
  if (format != "table" && format != "json")
    return fail("list: --format must be table or json, got \"" + format + "\"", kUsageErrno);
  auto all = runtime::list(ctx.globals);
  if (quiet) {
    std::string out;
    for (const auto& l : all) out += l.state.id + "\n";
    print(out);
    return 0;
  }
  if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& l : all) arr.push_back(l.state.public_json(l.status));
    print(arr.dump() + "\n");
    return 0;
  }
  std::string out = strprintf("%-20s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE",
                              "CREATED", "OWNER");
  for (const auto& l : all) {
    bool stopped = l.status == runtime::Status::stopped;
    out += strprintf("%-20s %-8d %-10s %-40s %-31s %s\n", l.state.id.c_str(),
                     stopped ? 0 : static_cast<int>(l.state.pid), runtime::status_name(l.status),
                     l.state.bundle.c_str(), l.state.created.c_str(), l.state.owner.c_str());
  }
  print(out);
  return 0;
}

}  // namespace veil::cli
