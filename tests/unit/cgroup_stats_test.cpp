// Stats for `veil events`: the cgroup file parsers, the mapping of v1 and v2 files to runc's
// stats JSON (on directory trees laid out as the kernel documents them, so the v2 mapping is
// checked on hosts whose memory controller is v1), OOM notification through memory.events with
// inotify, and Go duration parsing for --interval.
#include "linux/cgroup_stats.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <nlohmann/json.hpp>

#include "base/file.hpp"
#include "base/time.hpp"
#include "linux/cgroup_oom.hpp"
#include "temp_dir.hpp"

namespace veil::cgroups {
namespace {

using nlohmann::ordered_json;
using veil_test::TempDir;
using veil_test::write_text;

TEST(CgroupStatsParse, FlatKeyedAndNumbers) {
  auto m = parse_flat_keyed("anon 4096\nfile 8192\n\nbad\nswap max\n");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m["anon"], 4096u);
  EXPECT_EQ(m["file"], 8192u);
  EXPECT_EQ(m["swap"], UINT64_MAX);
  EXPECT_EQ(parse_uint("max\n", 0), 0u);
  EXPECT_EQ(parse_uint(" 42\n"), 42u);
  EXPECT_EQ(parse_uint("-1"), 0u);
  EXPECT_EQ(parse_uint(""), 0u);
  EXPECT_EQ(parse_cpu_list("0-3,5,7-8\n"), (std::vector<uint16_t>{0, 1, 2, 3, 5, 7, 8}));
  EXPECT_TRUE(parse_cpu_list("\n").empty());
}

TEST(CgroupStatsParse, BlkioV1AndIoStat) {
  auto v1 = parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:16 Sync 1\nTotal 4609\n");
  ASSERT_EQ(v1.size(), 3u);
  EXPECT_EQ(v1[0].major, 8u);
  EXPECT_EQ(v1[0].minor, 0u);
  EXPECT_EQ(v1[0].op, "Read");
  EXPECT_EQ(v1[0].value, 4096u);
  EXPECT_EQ(v1[2].minor, 16u);
  std::vector<BlkioEntry> bytes, ios;
  parse_io_stat("259:0 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n", bytes, ios);
  ASSERT_EQ(bytes.size(), 2u);
  ASSERT_EQ(ios.size(), 2u);
  EXPECT_EQ(bytes[0].major, 259u);
  EXPECT_EQ(bytes[1].op, "Write");
  EXPECT_EQ(bytes[1].value, 200u);
  EXPECT_EQ(ios[0].value, 3u);
}

TEST(CgroupStatsParse, Psi) {
  auto p = parse_psi(
      "some avg10=1.50 avg60=0.25 avg300=0.00 total=1234\n"
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
  EXPECT_DOUBLE_EQ(p["some"]["avg10"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(p["some"]["avg60"].get<double>(), 0.25);
  EXPECT_EQ(p["some"]["total"], 1234u);
  EXPECT_EQ(p["full"]["total"], 7u);
}

std::vector<std::string> keys(const ordered_json& o) {
  std::vector<std::string> k;
  for (const auto& [key, v] : o.items()) k.push_back(key);
  return k;
}

TEST(CgroupStats, V2FilesMapToRuncFields) {
  TempDir t;
  std::string d = t.path();
  write_text(t / "cgroup.controllers", "cpu memory pids io hugetlb\n");
  write_text(t / "cpu.stat",
             "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\n"
             "nr_throttled 2\nthrottled_usec 30\n");
  write_text(t / "cpu.max", "50000 100000\n");
  write_text(t / "cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n");
  write_text(t / "memory.current", "1048576\n");
  write_text(t / "memory.max", "max\n");
  write_text(t / "memory.peak", "2097152\n");
  write_text(t / "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  write_text(t / "memory.stat", "anon 4096\nfile 8192\n");
  write_text(t / "memory.swap.current", "4096\n");
  write_text(t / "memory.swap.max", "max\n");
  write_text(t / "pids.current", "3\n");
  write_text(t / "pids.max", "20\n");
  write_text(t / "io.stat", "8:0 rbytes=100 wbytes=200 rios=3 wios=4\n");
  write_text(t / "hugetlb.2MB.current", "0\n");
  write_text(t / "hugetlb.2MB.events", "max 5\n");
  write_text(t / "hugetlb.2MB.rsvd.current", "0\n");
  auto s = collect_stats({d});
  ASSERT_TRUE(s.has_value()) << s.error().str();
  EXPECT_EQ(keys(*s), (std::vector<std::string>{"cpu", "cpuset", "memory", "pids", "blkio",
                                                "hugetlb", "intel_rdt", "network_interfaces"}));
  const auto& cpu = (*s)["cpu"];
  EXPECT_EQ(cpu["usage"]["total"], 1500000u);
  EXPECT_EQ(cpu["usage"]["user"], 1000000u);
  EXPECT_EQ(cpu["usage"]["kernel"], 500000u);
  EXPECT_FALSE(cpu["usage"].contains("percpu"));  // omitempty
  EXPECT_EQ(cpu["throttling"]["periods"], 10u);
  EXPECT_EQ(cpu["throttling"]["throttledPeriods"], 2u);
  EXPECT_EQ(cpu["throttling"]["throttledTime"], 30000u);
  EXPECT_EQ(cpu["psi"]["some"]["total"], 9u);
  const auto& mem = (*s)["memory"];
  EXPECT_EQ(keys(mem), (std::vector<std::string>{"cache", "usage", "swap", "kernel", "kernelTCP",
                                                 "raw"}));  // no memory.pressure: no psi
  EXPECT_EQ(mem["cache"], 8192u);
  EXPECT_EQ(mem["usage"]["usage"], 1048576u);
  EXPECT_EQ(mem["usage"]["limit"], UINT64_MAX);
  EXPECT_EQ(mem["usage"]["max"], 2097152u);
  EXPECT_EQ(mem["usage"]["failcnt"], 3u);
  EXPECT_EQ(mem["swap"]["usage"], 1048576u + 4096u);  // memory+swap, as v1 reports it
  EXPECT_EQ(mem["swap"]["limit"], UINT64_MAX);
  EXPECT_EQ(mem["raw"]["anon"], 4096u);
  EXPECT_EQ((*s)["pids"]["current"], 3u);
  EXPECT_EQ((*s)["pids"]["limit"], 20u);
  const auto& blk = (*s)["blkio"];
  ASSERT_EQ(blk["ioServiceBytesRecursive"].size(), 2u);
  EXPECT_EQ(blk["ioServiceBytesRecursive"][0],
            ordered_json::parse(R"({"major":8,"op":"Read","value":100})"));  // minor 0 omitted
  EXPECT_EQ(blk["ioServicedRecursive"][1]["value"], 4u);
  EXPECT_EQ((*s)["hugetlb"], ordered_json::parse(R"({"2MB":{"failcnt":5}})"));
  EXPECT_TRUE((*s)["network_interfaces"].is_null());
}

TEST(CgroupStats, V1FilesMapToRuncFields) {
  TempDir t;
  std::string d = t.path();  // one directory holding every v1 controller's files
  write_text(t / "cpuacct.usage", "3000\n");
  write_text(t / "cpuacct.usage_percpu", "1000 2000 \n");
  write_text(t / "cpuacct.usage_all", "cpu user system\n0 600 400\n1 1500 500\n");
  write_text(t / "cpuacct.stat", "user 2\nsystem 1\n");
  write_text(t / "cpu.cfs_period_us", "100000\n");
  write_text(t / "cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 777\n");
  write_text(t / "cpuset.cpus", "0-1\n");
  write_text(t / "cpuset.mems", "0\n");
  write_text(t / "cpuset.cpu_exclusive", "0\n");
  write_text(t / "cpuset.sched_load_balance", "1\n");
  write_text(t / "cpuset.sched_relax_domain_level", "-1\n");
  write_text(t / "memory.usage_in_bytes", "65536\n");
  write_text(t / "memory.max_usage_in_bytes", "131072\n");
  write_text(t / "memory.limit_in_bytes", "33554432\n");
  write_text(t / "memory.failcnt", "2\n");
  write_text(t / "memory.stat", "cache 4096\nrss 8192\n");
  write_text(t / "pids.current", "2\n");
  write_text(t / "pids.max", "max\n");
  write_text(t / "blkio.throttle.io_serviced_recursive", "8:0 Read 5\n8:0 Write 6\nTotal 11\n");
  write_text(t / "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\nTotal 4096\n");
  write_text(t / "hugetlb.2MB.usage_in_bytes", "2097152\n");
  write_text(t / "hugetlb.2MB.max_usage_in_bytes", "4194304\n");
  write_text(t / "hugetlb.2MB.failcnt", "1\n");
  write_text(t / "hugetlb.1GB.usage_in_bytes", "0\n");
  write_text(t / "hugetlb.1GB.max_usage_in_bytes", "0\n");
  write_text(t / "hugetlb.1GB.failcnt", "0\n");
  auto s = collect_stats({d});
  ASSERT_TRUE(s.has_value()) << s.error().str();
  const auto& u = (*s)["cpu"]["usage"];
  EXPECT_EQ(u["total"], 3000u);
  EXPECT_EQ(u["percpu"], ordered_json::parse("[1000,2000]"));
  EXPECT_EQ(u["percpu_user"], ordered_json::parse("[600,1500]"));
  EXPECT_EQ(u["percpu_kernel"], ordered_json::parse("[400,500]"));
  uint64_t tick = 1'000'000'000 / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  EXPECT_EQ(u["user"], 2 * tick);
  EXPECT_EQ(u["kernel"], 1 * tick);
  EXPECT_EQ((*s)["cpu"]["throttling"]["throttledTime"], 777u);
  EXPECT_EQ((*s)["cpuset"]["cpus"], ordered_json::parse("[0,1]"));
  EXPECT_EQ((*s)["cpuset"]["sched_relax_domain_level"], -1);
  EXPECT_EQ((*s)["cpuset"]["sched_load_balance"], 1u);
  const auto& mem = (*s)["memory"];
  EXPECT_EQ(mem["cache"], 4096u);
  EXPECT_EQ(mem["usage"],
            ordered_json::parse(R"({"limit":33554432,"usage":65536,"max":131072,"failcnt":2})"));
  EXPECT_EQ(mem["swap"], ordered_json::parse(R"({"limit":0,"failcnt":0})"));  // no memsw files
  EXPECT_EQ((*s)["pids"], ordered_json::parse(R"({"current":2})"));           // "max" → 0
  EXPECT_EQ((*s)["blkio"]["ioServicedRecursive"].size(), 2u);
  EXPECT_EQ((*s)["blkio"]["ioServiceBytesRecursive"][0]["value"], 4096u);
  EXPECT_EQ(keys((*s)["hugetlb"]), (std::vector<std::string>{"1GB", "2MB"}));  // sorted, as Go
  EXPECT_EQ((*s)["hugetlb"]["2MB"],
            ordered_json::parse(R"({"usage":2097152,"max":4194304,"failcnt":1})"));
}

TEST(CgroupStats, GoneCgroupIsAnError) {
  auto s = collect_stats({"/sys/fs/cgroup/veil-no-such-cgroup"});
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().msg.find("no longer exists"), std::string::npos);
}

bool readable(int fd, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

TEST(OomWatch, V2CountsNewOomKillsFromMemoryEvents) {
  TempDir t;
  write_text(t / "cgroup.controllers", "memory\n");
  write_text(t / "memory.events", "low 0\nhigh 0\nmax 0\noom 2\noom_kill 2\n");
  auto w = OomWatch::open({t.path()});
  ASSERT_TRUE(w.has_value()) << w.error().str();
  EXPECT_TRUE(w->v2());
  EXPECT_FALSE(readable(w->fd(), 0));
  ASSERT_TRUE(write_file(t / "memory.events", "low 0\nhigh 0\nmax 4\noom 3\noom_kill 4\n"));
  ASSERT_TRUE(readable(w->fd(), 1000));
  EXPECT_EQ(w->drain(), 2u);  // kills before the watch started do not count
  ASSERT_TRUE(write_file(t / "memory.events", "low 1\nhigh 0\nmax 4\noom 3\noom_kill 4\n"));
  ASSERT_TRUE(readable(w->fd(), 1000));
  EXPECT_EQ(w->drain(), 0u);  // another counter changed: no OOM
}

TEST(OomWatch, NoMemoryControllerIsAClearError) {
  TempDir t;
  auto w = OomWatch::open({t.path()});
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().msg.find("no memory cgroup controller"), std::string::npos);
}

TEST(GoDuration, ParsesAsGo) {
  EXPECT_EQ(parse_go_duration("5s").value(), 5'000'000'000);
  EXPECT_EQ(parse_go_duration("100ms").value(), 100'000'000);
  EXPECT_EQ(parse_go_duration("1m30s").value(), 90'000'000'000);
  EXPECT_EQ(parse_go_duration("1.5h").value(), 5'400'000'000'000);
  EXPECT_EQ(parse_go_duration("250us").value(), 250'000);
  EXPECT_EQ(parse_go_duration("250\u00b5s").value(), 250'000);
  EXPECT_EQ(parse_go_duration("7ns").value(), 7);
  EXPECT_EQ(parse_go_duration(".5s").value(), 500'000'000);
  EXPECT_EQ(parse_go_duration("0").value(), 0);
  EXPECT_EQ(parse_go_duration("-2s").value(), -2'000'000'000);
  for (const char* bad : {"", "5", "s", "5x", "1.s.", "--1s", "9999999999h", "."}) {
    auto r = parse_go_duration(bad);
    EXPECT_FALSE(r.has_value()) << bad;
  }
  EXPECT_NE(parse_go_duration("5").error().msg.find("missing unit"), std::string::npos);
  EXPECT_NE(parse_go_duration("5d").error().msg.find("unknown unit \"d\""), std::string::npos);
}

}  // namespace
}  // namespace veil::cgroups
