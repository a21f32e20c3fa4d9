// pause, resume, update, ps: commands that act on the container's cgroup.
#include <unistd.h>

#include <algorithm>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/subprocess.hpp"
#include "cli/commands.hpp"

namespace veil::cli {
namespace {

// "512m", "1G", "100k", "123" → bytes; "-1" → -1.
Result<int64_t> parse_size(const std::string& v) {
  if (v == "-1") return -1;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end == v.c_str() || errno || n < 0)
    return fail("expected a size such as 64m, got \"" + v + "\"");
  std::string unit = end;
  int64_t mul = 1;
  if (unit == "" || unit == "b" || unit == "B")
    mul = 1;
  else if (unit == "k" || unit == "K" || unit == "kb" || unit == "KB")
    mul = 1LL << 10;
  else if (unit == "m" || unit == "M" || unit == "mb" || unit == "MB")
    mul = 1LL << 20;
  else if (unit == "g" || unit == "G" || unit == "gb" || unit == "GB")
    mul = 1LL << 30;
  else
    return fail("unknown size unit in \"" + v + "\"");
  return static_cast<int64_t>(n) * mul;
}

}  // namespace

Result<int> cmd_pause(Context& ctx, int argc, char** argv) {
  bool help = false;
  auto pos = VEIL_TRY(
      parse_command("pause", "usage: veil pause ID\n\nFreeze every process of the container.\n",
                    argc, argv, {}, 1, 1, &help));
  if (help) return 0;
  VEIL_CHECK(runtime::pause(ctx.globals, pos[0]));
  return 0;
}

Result<int> cmd_resume(Context& ctx, int argc, char** argv) {
  bool help = false;
  auto pos = VEIL_TRY(parse_command("resume", "usage: veil resume ID\n\nThaw a paused container.\n",
                                    argc, argv, {}, 1, 1, &help));
  if (help) return 0;
  VEIL_CHECK(runtime::resume(ctx.globals, pos[0]));
  return 0;
}

Result<int> cmd_update(Context& ctx, int argc, char** argv) {
  bool help = false;
  std::string file, memory, swap, reservation, shares, quota, period, cpus, mems, pids, weight,
      rt_period, rt_runtime;
  auto pos = VEIL_TRY(parse_command(
      "update",
      "usage: veil update [--resources FILE|-] [flags] ID\n\nChange the resource limits of a "
      "container.\n"
      "  -r, --resources FILE     linux.resources JSON from FILE (- for stdin)\n"
      "  --memory SIZE            memory limit (e.g. 64m; -1 for none)\n"
      "  --memory-swap SIZE       memory+swap limit\n"
      "  --memory-reservation SIZE soft limit\n"
      "  --cpu-shares N, --cpu-quota N, --cpu-period N\n"
      "  --cpuset-cpus LIST, --cpuset-mems LIST\n"
      "  --pids-limit N           maximum number of processes (0 or -1: no limit)\n"
      "  --cpu-rt-period N, --cpu-rt-runtime N  realtime scheduling (cgroup v1)\n"
      "  --blkio-weight N         10..1000\n",
      argc, argv,
      {{"resources", 'r', true, to(file)},
       {"memory", 0, true, to(memory)},
       {"memory-swap", 0, true, to(swap)},
       {"memory-reservation", 0, true, to(reservation)},
       {"cpu-shares", 0, true, to(shares)},
       {"cpu-quota", 0, true, to(quota)},
       {"cpu-period", 0, true, to(period)},
       {"cpuset-cpus", 0, true, to(cpus)},
       {"cpuset-mems", 0, true, to(mems)},
       {"pids-limit", 0, true, to(pids)},
       {"blkio-weight", 0, true, to(weight)},
       {"cpu-rt-period", 0, true, to(rt_period)},
       {"cpu-rt-runtime", 0, true, to(rt_runtime)}},
      1, 1, &help));
  if (help) return 0;
  nlohmann::json r = nlohmann::json::object();
  if (!file.empty()) {
    auto text = file == "-" ? read_file("/dev/stdin") : read_file(file);
    if (!text) return std::unexpected(text.error().wrap("--resources"));
    r = nlohmann::json::parse(*text, nullptr, false);
    if (r.is_discarded() || !r.is_object())
      return fail("--resources " + file + ": not a JSON object", kUsageErrno);
  }
  auto integer = [](const std::string& flag, const std::string& v) -> Result<int64_t> {
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno)
      return fail("update: --" + flag + ": expected a number, got \"" + v + "\"", kUsageErrno);
    return static_cast<int64_t>(n);
  };
  auto size = [](const std::string& flag, const std::string& v) -> Result<int64_t> {
    auto s = parse_size(v);
    if (!s) return fail("update: --" + flag + ": " + s.error().msg, kUsageErrno);
    return *s;
  };
  if (!memory.empty()) r["memory"]["limit"] = VEIL_TRY(size("memory", memory));
  if (!swap.empty()) r["memory"]["swap"] = VEIL_TRY(size("memory-swap", swap));
  if (!reservation.empty())
    r["memory"]["reservation"] = VEIL_TRY(size("memory-reservation", reservation));
  if (!shares.empty()) r["cpu"]["shares"] = VEIL_TRY(integer("cpu-shares", shares));
  if (!quota.empty()) r["cpu"]["quota"] = VEIL_TRY(integer("cpu-quota", quota));
  if (!period.empty()) r["cpu"]["period"] = VEIL_TRY(integer("cpu-period", period));
  if (!cpus.empty()) r["cpu"]["cpus"] = cpus;
  if (!mems.empty()) r["cpu"]["mems"] = mems;
  if (!pids.empty()) r["pids"]["limit"] = VEIL_TRY(integer("pids-limit", pids));
  if (!weight.empty()) r["blockIO"]["weight"] = VEIL_TRY(integer("blkio-weight", weight));
  if (!rt_period.empty())
    r["cpu"]["realtimePeriod"] = VEIL_TRY(integer("cpu-rt-period", rt_period));
  if (!rt_runtime.empty())
    r["cpu"]["realtimeRuntime"] = VEIL_TRY(integer("cpu-rt-runtime", rt_runtime));
  VEIL_CHECK(runtime::update(ctx.globals, pos[0], r));
  return 0;
}

namespace {

// runc's table: ps(1) (default `-ef`, or the options after the id) filtered to the container's
// processes by the PID column.
Result<int> ps_table(const std::vector<pid_t>& pids, std::vector<std::string> ps_args) {
  if (ps_args.empty()) ps_args = {"-ef"};
  ps_args.insert(ps_args.begin(), path_exists("/usr/bin/ps") ? "/usr/bin/ps" : "/bin/ps");
  auto got = run_capture(ps_args);
  if (!got) return std::unexpected(got.error().wrap("ps"));
  if (got->status != 0) return fail("ps " + join(ps_args, " ") + ": " + got->err);
  auto lines = split(got->out, '\n');
  if (lines.empty()) return fail("ps: no output");
  auto header = split_words(lines[0]);
  size_t col = header.size();
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == "PID") col = i;
  if (col == header.size()) return fail("ps: no PID column in the output (add -o pid)");
  std::string out = lines[0] + "\n";
  for (size_t i = 1; i < lines.size(); ++i) {
    auto f = split_words(lines[i]);
    if (f.size() <= col) continue;
    pid_t p = static_cast<pid_t>(std::atoi(f[col].c_str()));
    if (std::find(pids.begin(), pids.end(), p) != pids.end()) out += lines[i] + "\n";
  }
  print(out);
  return 0;
}

}  // namespace

Result<int> cmd_ps(Context& ctx, int argc, char** argv) {
  bool help = false;
  std::string format = "table";
  auto pos = VEIL_TRY(parse_command(
      "ps",
      "usage: veil ps [--format table|json] ID [-- PS_OPTIONS...]\n\nList the processes of a "
      "container: ps(1) output (default -ef) filtered to them, or their host pids as JSON.\n"
      "  -f, --format table|json\n",
      argc, argv, {{"format", 'f', true, to(format)}}, 1, 1 << 20, &help, true));
  if (help) return 0;
  if (format != "table" && format != "json")
    return fail("ps: --format must be table or json, got \"" + format + "\"", kUsageErrno);
  auto list = VEIL_TRY(runtime::pids(ctx.globals, pos[0]));
  std::vector<std::string> ps_args(pos.begin() + 1, pos.end());
  if (!ps_args.empty() && ps_args[0] == "--") ps_args.erase(ps_args.begin());
  if (format == "json") {
    if (!ps_args.empty()) return fail("ps: options for ps(1) need --format table", kUsageErrno);
    print(nlohmann::json(list).dump() + "\n");
    return 0;
  }
  return ps_table(list, ps_args);
}

}  // namespace veil::cli
