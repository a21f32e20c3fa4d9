// events: runc's `events [--stats] [--interval DURATION] ID` (JSON lines on stdout).
#include "base/time.hpp"
#include "cli/commands.hpp"
#include "guard/stream.hpp"
#include "runtime/events.hpp"

namespace veil::cli {

Result<int> cmd_events(Context& ctx, int argc, char** argv) {
  bool help = false, stats = false, follow = false;
  std::string interval = "5s";
  // The id is checked below rather than by parse_command, so that flags which do not need one
  // can be added later.
  auto pos = VEIL_TRY(parse_command(
      "events",
      "usage: veil events [--stats] [--interval DURATION] ID\n"
      "       veil events --follow [ID]\n\n"
      "Print the container's resource usage every interval and its OOM events as JSON lines\n"
      "(runc's format: {\"type\":\"stats\"|\"oom\",\"id\":ID,\"data\":{...}}) until it stops.\n"
      "  --stats              print the stats once and exit\n"
      "  --interval DURATION  time between stats (Go syntax: 5s, 500ms, 1m; default 5s)\n"
      "  --follow             stream the guard's audit events instead (all containers, or ID's),\n"
      "                       as JSON lines, from the guard daemon (docs/guard.md)\n",
      argc, argv,
      {{"stats", 0, false, flag(stats)},
       {"interval", 0, true, to(interval)},
       {"follow", 'f', false, flag(follow)}},
      0, 1, &help));
  if (help) return 0;
  if (follow) {
    if (stats) return fail("events: --follow and --stats do not go together", kUsageErrno);
    VEIL_CHECK(guard::follow_events(guard::Instance::from_env(), pos.empty() ? "" : pos[0],
                                    [](const std::string& line) { return print_all(line); }));
    return 0;
  }
  if (pos.empty())
    return fail("events: missing container id (see veil events --help)", kUsageErrno);
  runtime::EventsOptions opts;
  opts.stats_only = stats;
  auto ns = parse_go_duration(interval);
  if (!ns) return fail("events: --interval: " + ns.error().msg, kUsageErrno);
  if (*ns <= 0)
    return fail("events: --interval must be greater than 0, got \"" + interval + "\"", kUsageErrno);
  opts.interval_ns = *ns;
  VEIL_CHECK(runtime::events(ctx.globals, pos[0], opts,
                             [](const std::string& line) { return print_all(line); }));
  return 0;
}

}  // namespace veil::cli
