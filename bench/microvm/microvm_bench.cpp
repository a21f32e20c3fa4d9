// The microvm handler's benchmark (bench/microvm/README.md): start to first workload output for
// the container handler, a template clone, a cold boot, and the floor (QEMU booting the same
// kernel to agent ready, no veil around it); exec latency; host memory (PSS of monitor + QEMU)
// per idle sandbox for 1 and N sandboxes; the density that implies for 4 GiB. Everything in one
// run, interleaved, medians and p95; prints a Markdown report.
//   veil_microvm_bench VEIL BUNDLE_DIR [RUNS] [IDLE]
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "vm/boot.hpp"

namespace {

using namespace veil;

struct Stats {
  double median = 0, p95 = 0;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
  };
  return {at(0.5), at(0.95)};
}

double now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Runs argv with env additions; returns ms from fork to the first byte on stdout (and waits).
double first_output_ms(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  double t0 = now_ms();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  char b;
  double t = ::read(p[0], &b, 1) == 1 ? now_ms() - t0 : -1;
  char buf[4096];
  while (::read(p[0], buf, sizeof buf) > 0) {
  }
  ::close(p[0]);
  int st;
  ::waitpid(pid, &st, 0);
  return t;
}

int run_quiet(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  return std::system((cmd + ">/dev/null 2>&1").c_str());
}

// PSS in KiB of a process (smaps_rollup).
long pss_kib(pid_t pid) {
  auto t = read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!t) return 0;
  auto pos = t->find("\nPss:");
  return pos == std::string::npos ? 0 : std::atol(t->c_str() + pos + 5);
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto st = read_file(std::string("/proc/") + e->d_name + "/stat");
    if (!st) continue;
    auto close = st->rfind(')');
    int ppid = 0;
    std::sscanf(st->c_str() + close + 2, "%*c %d", &ppid);
    if (ppid == parent) out.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s VEIL BUNDLE_DIR [RUNS] [IDLE]\n", argv[0]);
    return 2;
  }
  std::string veil = argv[1], bundle = argv[2];
  int runs = argc > 3 ? std::atoi(argv[3]) : 10;
  int idle = argc > 4 ? std::atoi(argv[4]) : 20;
  std::string root = "/run/veil-bench-microvm";
  auto config = read_file(bundle + "/config.json");
  if (!config) return std::fprintf(stderr, "no %s/config.json\n", bundle.c_str()), 1;
  // Two bundles on the same rootfs: plain, and annotated for the microvm handler.
  std::string vm_bundle = bundle + "-vm";
  (void)mkdir_all(vm_bundle);
  std::string c = *config;
  auto pos = c.find("\"annotations\"");
  if (pos == std::string::npos)
    c.insert(c.rfind('}'), ",\"annotations\":{\"org.veil.handler\":\"microvm\"}");
  (void)write_file_atomic(vm_bundle + "/config.json", c);
  ::unlink((vm_bundle + "/rootfs").c_str());
  (void)!::symlink((bundle + "/rootfs").c_str(), (vm_bundle + "/rootfs").c_str());

  auto assets = vm::find_assets();
  if (!assets) return std::fprintf(stderr, "%s\n", assets.error().str().c_str()), 1;
  auto accel = vm::choose_accel(*assets);
  vm::Shape shape;
  shape.accel = accel.name;
  auto tmpl = vm::ensure_template(*assets, shape, 120'000);
  if (!tmpl) return std::fprintf(stderr, "%s\n", tmpl.error().str().c_str()), 1;

  std::map<std::string, std::vector<double>> t;
  // The floor's QEMU: its disk (and its jail's root, vm/jail.hpp) in a directory of its own.
  std::string qdir = root + "-qemu", disk = qdir + "/disk.img";
  (void)mkdir_all(qdir, 0700);
  (void)run_quiet({"/usr/bin/truncate", "-s", std::to_string(vm::kDiskMiB) + "M", disk});
  for (int i = 0; i < runs; ++i) {
    auto id = strprintf("b%d", i);
    auto run = [&](const std::string& b, const std::vector<std::string>& env) {
      return first_output_ms({veil, "--root", root, "run", "--bundle", b, id}, env);
    };
    t["container handler: veil run"].push_back(run(bundle, {}));
    t["microvm, template clone: veil run"].push_back(run(vm_bundle, {}));
    t["microvm, cold boot: veil run"].push_back(run(vm_bundle, {"VEIL_VM_TEMPLATE=off"}));
    // The floor: QEMU booting the same kernel and initramfs to agent ready, nothing else.
    for (bool clone : {false, true}) {
      double t0 = now_ms();
      auto g = vm::start_guest(*assets, shape, clone ? &*tmpl : nullptr, disk, "/dev/null", 60'000);
      double dt = now_ms() - t0;
      if (g) vm::stop_guest(*g);
      t[clone ? "QEMU alone: clone restore to agent ready"
              : "QEMU alone: cold boot to agent ready (the floor)"]
          .push_back(g ? dt : -1);
    }
  }
  (void)remove_all(qdir);

  // exec latency and memory: idle sandboxes (`sleep`), started detached.
  std::string sleeper = bundle + "-vm-sleep";
  (void)mkdir_all(sleeper);
  std::string sc = c;
  auto args = sc.find("\"args\"");
  auto end = sc.find(']', args);
  sc.replace(args, end - args + 1, "\"args\":[\"sleep\",\"100000\"]");
  (void)write_file_atomic(sleeper + "/config.json", sc);
  ::unlink((sleeper + "/rootfs").c_str());
  (void)!::symlink((bundle + "/rootfs").c_str(), (sleeper + "/rootfs").c_str());
  std::vector<std::string> ids;
  std::map<int, double> pss_per;
  for (int n = 1; n <= idle; ++n) {
    std::string id = strprintf("idle%d", n);
    if (run_quiet({veil, "--root", root, "run", "-d", "--bundle", sleeper, id}) != 0) break;
    ids.push_back(id);
    if (n == 1 || n == idle) {
      ::sleep(3);  // let the guests settle
      long total = 0;
      for (const auto& i : ids) {
        auto st = read_file(root + "/" + i + "/state.json");
        auto p = st ? st->find("\"pid\":") : std::string::npos;
        pid_t monitor = p == std::string::npos ? 0 : std::atoi(st->c_str() + p + 6);
        total += pss_kib(monitor);
        for (pid_t q : children_of(monitor)) total += pss_kib(q);
      }
      pss_per[n] = total / 1024.0 / n;
    }
  }
  for (int i = 0; i < runs && !ids.empty(); ++i)
    t["exec: veil exec true (microvm)"].push_back(
        first_output_ms({veil, "--root", root, "exec", ids[0], "echo", "x"}, {}));
  for (const auto& id : ids) run_quiet({veil, "--root", root, "delete", "--force", id});

  std::printf(
      "# microvm handler benchmark\n\naccelerator: %s%s; %d runs each, interleaved; "
      "times from fork of the command to the workload's first byte of output.\n\n",
      accel.name.c_str(), accel.reason.empty() ? "" : (" (" + accel.reason + ")").c_str(), runs);
  std::printf("| what | median ms | p95 ms |\n|---|---|---|\n");
  for (const auto& [k, v] : t) {
    auto s = stats(v);
    std::printf("| %s | %.0f | %.0f |\n", k.c_str(), s.median, s.p95);
  }
  std::printf("\n| idle sandboxes | PSS per sandbox (monitor + QEMU), MiB |\n|---|---|\n");
  for (const auto& [n, p] : pss_per) std::printf("| %d | %.1f |\n", n, p);
  if (pss_per.count(idle))
    std::printf("\nDensity in 4 GiB at that PSS: about %.0f idle sandboxes.\n",
                4096.0 / pss_per[idle]);
  (void)remove_all(root);
  (void)remove_all(vm_bundle);
  (void)remove_all(sleeper);
  return 0;
}
