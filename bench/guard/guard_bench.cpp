// Guard benchmark (bench/guard/run.sh): the cost of the guard on normal work, measured in the same
// run against the same container without it, and how fast its events arrive.
//   - exec-heavy: fork+exec of /bin/true in a container, ns per exec, guard vs none (medians)
//   - syscall-heavy: getpid and 64-byte reads, ns per call, guard vs none
//   - event latency: from just before the action (stamped in the container) to the event being
//     readable on the events socket: BPF exec path (audited drift) and seccomp notify (ptrace)
//   - sustained rate: audited execs at 1,000/s and as fast as possible; events received vs lost
// Writes a markdown report to stdout.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/file.hpp"
#include "base/subprocess.hpp"

using namespace veil;

namespace {

std::string g_veil, g_guard, g_helper, g_source, g_tmp, g_bundle, g_root;
pid_t g_daemon = -1;

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void stop_daemon();

// Leaves nothing behind: the daemon, its pins and the temp dir go with a failed run too.
[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "guard_bench: %s\n", msg.c_str());
  stop_daemon();
  if (!g_tmp.empty()) (void)remove_all(g_tmp);
  std::exit(1);
}

Captured must(const std::vector<std::string>& argv) {
  auto c = run_capture(argv);
  if (!c) die(c.error().str());
  if (c->status != 0)
    die(argv[0] + " failed (" + std::to_string(c->status) + "): " + c->err + c->out);
  return *c;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

nlohmann::json g_oci_profile;  // Podman's default seccomp profile (containers-common), if present

// Runs the container with args; policy "" = no guard; with_profile adds the OCI default seccomp
// profile container engines apply (RuntimeDefault).
std::string run_container(const std::vector<std::string>& args, const std::string& policy,
                          bool with_profile = false) {
  auto cfg = nlohmann::json::parse(*read_file(g_bundle + "/config.json"));
  cfg["process"]["args"] = args;
  if (with_profile)
    cfg["linux"]["seccomp"] = g_oci_profile;
  else
    cfg["linux"].erase("seccomp");
  cfg["annotations"] = nlohmann::json::object();
  if (!policy.empty()) cfg["annotations"]["org.veil.guard.policy"] = policy;
  nlohmann::json ns = nlohmann::json::array();
  for (const auto& n : cfg["linux"]["namespaces"])
    if (n.value("type", "") != "network") ns.push_back(n);
  cfg["linux"]["namespaces"] = ns;
  (void)write_file_atomic(g_bundle + "/config.json", cfg.dump(2));
  static int seq = 0;
  std::string id = "gbench-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
  auto c = must({g_veil, "--root", g_root, "run", "--bundle", g_bundle, id});
  return c.out;
}

double field(const std::string& out, const std::string& key) {
  auto p = out.find(key + " ");
  if (p == std::string::npos) die("no " + key + " in: " + out);
  return std::atof(out.c_str() + p + key.size() + 1);
}

// Collects event lines from the daemon's events socket with their arrival time.
class Subscriber {
 public:
  Subscriber() {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s/run/events.sock", g_tmp.c_str());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) die("connect events.sock");
    t_ = std::thread([this] {
      std::string buf;
      char b[65536];
      for (;;) {
        ssize_t n = ::recv(fd_, b, sizeof(b), 0);
        if (n <= 0) return;
        long long at = now_ns();
        buf.append(b, static_cast<size_t>(n));
        size_t nl;
        std::lock_guard<std::mutex> g(m_);
        while ((nl = buf.find('\n')) != std::string::npos) {
          lines_.push_back({at, buf.substr(0, nl)});
          buf.erase(0, nl + 1);
        }
      }
    });
  }
  ~Subscriber() {
    ::shutdown(fd_, SHUT_RDWR);
    t_.join();
    ::close(fd_);
  }
  std::vector<std::pair<long long, nlohmann::json>> take() {
    std::lock_guard<std::mutex> g(m_);
    std::vector<std::pair<long long, nlohmann::json>> out;
    for (auto& [t, l] : lines_) out.push_back({t, nlohmann::json::parse(l, nullptr, false)});
    lines_.clear();
    return out;
  }

 private:
  int fd_ = -1;
  std::thread t_;
  std::mutex m_;
  std::vector<std::pair<long long, std::string>> lines_;
};

void start_daemon() {
  g_daemon = ::fork();
  if (g_daemon == 0) {
    ::execl(g_guard.c_str(), "veil-guard", "daemon", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    if (path_exists(g_tmp + "/run/events.sock")) return;
    ::usleep(10000);
  }
  die("the guard daemon did not start");
}

void stop_daemon() {
  if (g_daemon > 0) {
    ::kill(g_daemon, SIGTERM);
    ::waitpid(g_daemon, nullptr, 0);
    g_daemon = -1;
  }
  if (!g_guard.empty()) (void)run_capture({g_guard, "unload"});
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--veil") g_veil = v;
    if (k == "--guard") g_guard = v;
    if (k == "--helper") g_helper = v;
    if (k == "--source") g_source = v;
    if (k == "--runs") runs = std::atoi(v.c_str());
  }
  if (g_veil.empty() || g_guard.empty() || g_helper.empty() || g_source.empty())
    die("usage: guard_bench --veil V --guard G --helper H --source DIR [--runs N]");
  char tmpl[] = "/tmp/veil-gbench-XXXXXX";
  g_tmp = ::mkdtemp(tmpl);
  g_bundle = g_tmp + "/bundle";
  g_root = g_tmp + "/state";
  ::setenv("VEIL_GUARD_DIR", (g_tmp + "/run").c_str(), 1);
  ::setenv("VEIL_GUARD_BPFFS", ("/sys/fs/bpf/veil-bench-" + std::to_string(::getpid())).c_str(), 1);
  ::setenv("VEIL_GUARD_POLICY_DIR", (g_tmp + "/policies").c_str(), 1);
  ::setenv("VEIL_GUARD_BIN", g_guard.c_str(), 1);
  (void)mkdir_all(g_tmp + "/policies");
  (void)write_file_atomic(g_tmp + "/policies/audit.yaml", "name: audit\nmode: audit\n");
  must({g_source + "/scripts/make-bundle.sh", g_bundle});
  must({"/bin/cp", g_helper, g_bundle + "/rootfs/bin/gbench"});
  ::sleep(1);  // every rootfs file predates the containers by more than a clock tick
  start_daemon();
  auto mechs = must({g_guard, "status", "--json"});
  std::string mech = nlohmann::json::parse(mechs.out, nullptr, false).value("mechanisms", "?");

  if (auto p = read_file("/usr/share/containers/seccomp.json"))
    g_oci_profile = nlohmann::json::parse(*p, nullptr, false);
  bool have_profile = g_oci_profile.is_object();

  // Exec-heavy and syscall-heavy, alternating: [profile][guard] -> samples.
  std::vector<double> exec_ns[2][2], getpid_ns[2][2], read_ns[2][2], fread_ns[2][2];
  for (int r = 0; r < runs; ++r) {
    for (int prof = 0; prof < (have_profile ? 2 : 1); ++prof) {
      for (int g = 0; g < 2; ++g) {
        std::string pol = g ? "default" : "";
        std::string e = run_container({"/bin/gbench", "exec", "2000"}, pol, prof);
        exec_ns[prof][g].push_back(field(e, "exec_ns") / 1000);
        std::string s = run_container({"/bin/gbench", "syscalls", "4000000"}, pol, prof);
        getpid_ns[prof][g].push_back(field(s, "getpid_ns"));
        read_ns[prof][g].push_back(field(s, "read_ns"));
        fread_ns[prof][g].push_back(field(s, "fileread_ns"));
      }
    }
  }

  // What the guard adds to starting a container: `veil run` of /bin/true, wall time.
  std::vector<double> start_ms[2];
  for (int r = 0; r < 3 * runs; ++r)
    for (int g = 0; g < 2; ++g) {
      long long t0 = now_ns();
      run_container({"/bin/true"}, g ? "default" : "");
      start_ms[g].push_back(static_cast<double>(now_ns() - t0) / 1e6);
    }

  // Latency, BPF path: audited drift execs, joined by pid.
  std::vector<double> lat_bpf, lat_notify;
  {
    Subscriber sub;
    std::string out = run_container(
        {"sh", "-c", "cp /bin/busybox /tmp/bb && /bin/gbench latency 500 /tmp/bb"}, "audit");
    ::usleep(300000);
    // The pids printed are the container's; the events carry the host's: join by order (each
    // exec finishes before the next starts).
    std::vector<long long> start;
    std::istringstream in(out);
    int pid;
    long long t;
    while (in >> pid >> t) start.push_back(t);
    size_t k = 0;
    for (auto& [at, j] : sub.take())
      if (j.value("rule", "") == "drift" && k < start.size())
        lat_bpf.push_back(static_cast<double>(at - start[k++]) / 1e6);
  }
  // Latency, seccomp notify path: audited ptrace calls, joined by order.
  {
    Subscriber sub;
    std::string out = run_container({"/bin/gbench", "notify", "500"}, "audit");
    ::usleep(300000);
    std::vector<long long> start;
    std::istringstream in(out);
    long seq;
    long long t;
    while (in >> seq >> t) start.push_back(t);
    size_t k = 0;
    for (auto& [at, j] : sub.take())
      if (j.value("syscall", "") == "ptrace" && k < start.size())
        lat_notify.push_back(static_cast<double>(at - start[k++]) / 1e6);
  }

  // Sustained rate: audited execs, every one an event.
  struct RateRow {
    long target;
    double achieved;
    long events, lost;
  };
  std::vector<RateRow> rates;
  for (long target : {1000L, 0L}) {
    Subscriber sub;
    std::string out = run_container(
        {"sh", "-c",
         "cp /bin/busybox /tmp/bb && /bin/gbench rate " + std::to_string(target) + " 5 /tmp/bb"},
        "audit");
    ::usleep(500000);
    long events = 0, lost = 0;
    for (auto& [at, j] : sub.take()) {
      if (j.value("rule", "") == "drift") ++events;
      if (j.value("type", "") == "loss") lost += j.value("count", 0L);
    }
    rates.push_back({target, field(out, "execs") / field(out, "seconds"), events, lost});
  }
  stop_daemon();
  (void)remove_all(g_tmp);

  utsname u{};
  ::uname(&u);
  char date[64];
  time_t now = time(nullptr);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%MZ", gmtime(&now));
  double la[3] = {0, 0, 0};
  getloadavg(la, 3);
  std::printf("# veil guard benchmark\n\n");
  std::printf("%s, %ld cores, %s, guard programs: %s, load average at end %.2f %.2f %.2f.\n", date,
              sysconf(_SC_NPROCESSORS_ONLN), u.release, mech.c_str(), la[0], la[1], la[2]);
  std::printf(
      "Same busybox bundle, same run, %d alternating runs per cell (medians). \"guard\" is "
      "the default profile (every protection on, enforce) with the daemon running. "
      "\"OCI profile\" is the default seccomp profile container engines apply "
      "(/usr/share/containers/seccomp.json, what Podman and CRI's RuntimeDefault use).\n\n",
      runs);
  std::printf(
      "| workload | no seccomp | guard | overhead | OCI profile | OCI profile + guard | "
      "overhead |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  auto row = [&](const char* name, const char* unit, std::vector<double>(&v)[2][2]) {
    double a = median(v[0][0]), b = median(v[0][1]);
    std::printf("| %s | %.1f %s | %.1f %s | %+.1f %% |", name, a, unit, b, unit, (b / a - 1) * 100);
    if (have_profile) {
      double c = median(v[1][0]), d = median(v[1][1]);
      std::printf(" %.1f %s | %.1f %s | %+.1f %% |\n", c, unit, d, unit, (d / c - 1) * 100);
    } else {
      std::printf(" - | - | - |\n");
    }
  };
  row("fork+exec /bin/true (2,000 per run)", "µs", exec_ns);
  row("getpid()", "ns", getpid_ns);
  row("read(/dev/zero, 64 B)", "ns", read_ns);
  row("pread of a rootfs file, 64 B", "ns", fread_ns);
  std::printf("\n`veil run` of /bin/true (wall time, %d runs each, medians): %.1f ms without the "
              "guard, %.1f ms with it (veil-guard prepare, BPF map entries, fanotify marks, "
              "registration with the daemon).\n",
              3 * runs, median(start_ms[0]), median(start_ms[1]));
  std::printf(
      "\nEvent latency, from just before the action (stamped in the container) to the "
      "event being readable on the events socket (audit mode, 500 actions, 2 ms apart):\n\n");
  std::printf(
      "| path | events | p50 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |\n");
  std::printf("| exec (BPF tp_btf + ring buffer) | %zu | %.2f | %.2f | %.2f |\n", lat_bpf.size(),
              pct(lat_bpf, 50), pct(lat_bpf, 99), pct(lat_bpf, 100));
  std::printf("| ptrace (seccomp user notification) | %zu | %.2f | %.2f | %.2f |\n",
              lat_notify.size(), pct(lat_notify, 50), pct(lat_notify, 99), pct(lat_notify, 100));
  std::printf("\nSustained audited execs (each one an event) for 5 s:\n\n");
  std::printf(
      "| target | achieved execs/s | events received | lost (reported) |\n"
      "| --- | ---: | ---: | ---: |\n");
  for (const auto& r : rates)
    std::printf("| %s | %.0f | %ld | %ld |\n",
                r.target ? (std::to_string(r.target) + "/s").c_str() : "as fast as possible",
                r.achieved, r.events, r.lost);
  return 0;
}
