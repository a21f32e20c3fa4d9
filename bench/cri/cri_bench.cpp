// Pods through the CRI, per RuntimeClass handler, in one run (bench/cri/README.md): pod start
// (RunPodSandbox + CreateContainer + StartContainer of one `sleep` container, as kubelet starts a
// one-container pod) median and p95, handlers interleaved; then N pods started concurrently per
// handler: the total time, the host memory each pod holds once idle (PSS of its processes: the
// shim, the runtime's processes and the containers, VMs included), and the shim's RSS. A
// private containerd with a CNI bridge, as the CRI tests use (tests/clients). Prints Markdown.
//   veil_cri_bench VEIL [RUNS] [CONCURRENT] [HANDLERS]   (HANDLERS: comma-separated)
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "client_util.hpp"
#include "containerd_daemon.hpp"
#include "cri_client.hpp"

namespace {

using namespace veil::clients;
using Clock = std::chrono::steady_clock;

struct Stats {
  double median = 0, p95 = 0;
};
Stats stats(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1,
                      static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
  };
  return {at(0.5), at(0.95)};
}

// kB from a /proc/<pid>/<file> line "Key:   N kB".
long proc_kb(pid_t pid, const char* file, const char* key) {
  auto s = veil::read_file("/proc/" + std::to_string(pid) + "/" + file);
  if (!s) return 0;
  auto k = s->find(std::string("\n") + key);
  if (k == std::string::npos) k = s->rfind(key, 0) == 0 ? 0 : std::string::npos;
  if (k == std::string::npos) return 0;
  return std::atol(s->c_str() + s->find(':', k) + 1);
}

// Pids in cgroup dir and every cgroup below it.
void cgroup_pids(const std::string& dir, std::vector<pid_t>& out) {
  for (const auto& l : lines_of(read(dir + "/cgroup.procs"))) out.push_back(std::atoi(l.c_str()));
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') cgroup_pids(dir + "/" + e->d_name, out);
    ::closedir(d);
  }
}

class Bench {
 public:
  explicit Bench(std::string veil) : veil_(std::move(veil)) {}

  std::string setup() {
    dir_ = make_temp_dir("veil-cri-bench-");
    int id = ::getpid();
    bridge_ = "vcrib" + std::to_string(id % 10000);
    cgroup_parent_ = "/veil-cri-bench-" + std::to_string(id);
    write_cni_bridge(dir_, "veil-cri-bench", bridge_, "10.250." + std::to_string(id % 250) + ".");
    ContainerdOptions o;
    o.veil = veil_;
    o.cni_conf_dir = dir_ + "/cni";
    std::string vm = veil_.substr(0, veil_.rfind('/') + 1) + "veil-vm";
    if (veil::path_exists(vm)) o.veil_vm = vm;  // veil-vm-runc: the runc shim, a VM per container
    std::string shim = veil_.substr(0, veil_.rfind('/') + 1) + "containerd-shim-veil-v2";
    if (veil::path_exists(shim)) o.veil_shim = shim;  // veil-vm: the shim v2, a VM per pod
    if (auto e = daemon_.start(dir_, o); !e.empty()) return e;
    for (auto [tar, name, cmd] :
         {std::tuple{"/pause.tar", kPauseImage, R"(["sleep","2147483647"])"},
          std::tuple{"/busybox.tar", kImage, R"(["sh"])"}}) {
      Cmd img = make_image(dir_ + tar, name, cmd);
      if (img.code != 0) return img.describe();
      Cmd imp = daemon_.ctr({"image", "import", dir_ + tar}, "k8s.io");
      if (imp.code != 0) return imp.describe();
    }
    cri_ = std::make_unique<CriClient>(daemon_.socket());
    return "";
  }

  void teardown() {
    for (const auto& p : live_) remove(p);
    daemon_.stop();
    kill_pids(pids_with_cmdline(daemon_.socket()));
    remove_cgroup_dirs(cgroup_parent_);
    remove_cni_bridge(bridge_);
    remove_tree(dir_);
  }

  // One pod with one `sleep` container; "" and the pod id, or the error.
  std::pair<std::string, std::string> start_pod(const std::string& handler, int n) {
    cri::PodSandboxConfig pod;
    std::string name = handler + "-" + std::to_string(n);
    pod.mutable_metadata()->set_name(name);
    pod.mutable_metadata()->set_uid("uid-" + name);
    pod.mutable_metadata()->set_namespace_("bench");
    pod.set_hostname(name);
    pod.set_log_directory(dir_ + "/pods/" + name);
    pod.mutable_linux()->set_cgroup_parent(cgroup_parent_ + "/pod-" + name);
    pod.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
        cri::CONTAINER);
    cri::RunPodSandboxRequest rreq;
    *rreq.mutable_config() = pod;
    rreq.set_runtime_handler(handler);
    cri::RunPodSandboxResponse rresp;
    if (auto e = cri_->call(&cri::RuntimeService::Stub::RunPodSandbox, rreq, &rresp, 300);
        !e.empty())
      return {"RunPodSandbox (" + handler + "): " + e, ""};
    {
      std::lock_guard<std::mutex> l(mu_);
      live_.push_back(rresp.pod_sandbox_id());
    }
    cri::CreateContainerRequest creq;
    creq.set_pod_sandbox_id(rresp.pod_sandbox_id());
    *creq.mutable_sandbox_config() = pod;
    auto* c = creq.mutable_config();
    c->mutable_metadata()->set_name("main");
    c->mutable_image()->set_image(kImage);
    c->add_command("sleep");
    c->add_command("3600");
    c->set_log_path("main.log");
    *c->mutable_linux()->mutable_security_context()->mutable_namespace_options() =
        pod.linux().security_context().namespace_options();
    cri::CreateContainerResponse cresp;
    if (auto e = cri_->call(&cri::RuntimeService::Stub::CreateContainer, creq, &cresp, 300);
        !e.empty())
      return {"CreateContainer (" + handler + "): " + e, rresp.pod_sandbox_id()};
    cri::StartContainerRequest sreq;
    sreq.set_container_id(cresp.container_id());
    cri::StartContainerResponse sresp;
    if (auto e = cri_->call(&cri::RuntimeService::Stub::StartContainer, sreq, &sresp, 300);
        !e.empty())
      return {"StartContainer (" + handler + "): " + e, rresp.pod_sandbox_id()};
    return {"", rresp.pod_sandbox_id()};
  }

  void remove(const std::string& pod) {
    cri::StopPodSandboxRequest s;
    s.set_pod_sandbox_id(pod);
    cri::StopPodSandboxResponse sr;
    cri_->call(&cri::RuntimeService::Stub::StopPodSandbox, s, &sr, 120);
    cri::RemovePodSandboxRequest r;
    r.set_pod_sandbox_id(pod);
    cri::RemovePodSandboxResponse rr;
    cri_->call(&cri::RuntimeService::Stub::RemovePodSandbox, r, &rr, 120);
    std::lock_guard<std::mutex> l(mu_);
    std::erase(live_, pod);
  }

  // Memory of the live pods: PSS of their processes (in their cgroups: containers, VMs and
  // monitors) plus their shims', and the shims' median RSS.
  std::pair<double, double> memory_per_pod() {
    std::vector<pid_t> pids;
    for (const auto& d : cgroup_dirs(cgroup_parent_))
      if (d.find("/memory/") != std::string::npos || d.find("/unified/") != std::string::npos)
        cgroup_pids(d, pids);
    std::vector<double> shim_rss;
    for (pid_t p : pids_with_cmdline(daemon_.socket())) {
      pids.push_back(p);
      shim_rss.push_back(static_cast<double>(proc_kb(p, "status", "VmRSS:")));
    }
    // The shim v2's VMMs run beside it, not in the pod's cgroup: named by the pod's state dir.
    for (pid_t p : pids_with_cmdline("/run/veil-shim/")) pids.push_back(p);
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    double pss = 0;
    for (pid_t p : pids) pss += static_cast<double>(proc_kb(p, "smaps_rollup", "Pss:"));
    double n = static_cast<double>(std::max<size_t>(1, live_.size()));
    return {pss / 1024.0 / n, stats(shim_rss).median / 1024.0};
  }

  std::vector<std::string> live() {
    std::lock_guard<std::mutex> l(mu_);
    return live_;
  }

 private:
  std::string veil_, dir_, bridge_, cgroup_parent_;
  ContainerdDaemon daemon_;
  std::unique_ptr<CriClient> cri_;
  std::mutex mu_;
  std::vector<std::string> live_;
};

struct Result {
  Stats start;
  double concurrent_s = 0, pss_mib = 0, shim_rss_mib = 0;
  std::string error;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: veil_cri_bench VEIL [RUNS] [CONCURRENT] [HANDLERS]\n");
    return 2;
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 15;
  int concurrent = argc > 3 ? std::atoi(argv[3]) : 20;
  std::vector<std::string> handlers =
      veil::split(argc > 4 ? argv[4] : "runc,veil,veil-vm,veil-vm-runc", ',');
  char* veil = ::realpath(argv[1], nullptr);  // the shim runs it from the bundle directory
  if (!veil) {
    std::fprintf(stderr, "veil_cri_bench: %s: not found\n", argv[1]);
    return 2;
  }
  Bench b(veil);
  std::free(veil);
  if (auto e = b.setup(); !e.empty()) {
    std::fprintf(stderr, "veil_cri_bench: setup: %s\n", e.c_str());
    b.teardown();
    return 1;
  }
  std::map<std::string, Result> res;
  std::map<std::string, std::vector<double>> starts;
  // Pod start, handlers interleaved; one warm-up round.
  for (int i = -1; i < runs; ++i) {
    for (const auto& h : handlers) {
      if (!res[h].error.empty()) continue;
      auto t0 = Clock::now();
      auto [err, pod] = b.start_pod(h, 1000 + i + 1);
      double ms = seconds_since(t0) * 1000;
      if (!err.empty()) res[h].error = err;
      if (err.empty() && i >= 0) starts[h].push_back(ms);
      if (!pod.empty()) b.remove(pod);
    }
  }
  for (const auto& h : handlers) {
    res[h].start = stats(starts[h]);
    if (!res[h].error.empty()) continue;
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    std::mutex mu;
    for (int i = 0; i < concurrent; ++i)
      ts.emplace_back([&, i] {
        auto [err, pod] = b.start_pod(h, i);
        std::lock_guard<std::mutex> l(mu);
        if (!err.empty() && res[h].error.empty()) res[h].error = err;
      });
    for (auto& t : ts) t.join();
    res[h].concurrent_s = seconds_since(t0);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // idle
    std::tie(res[h].pss_mib, res[h].shim_rss_mib) = b.memory_per_pod();
    std::vector<std::thread> rs;
    for (const auto& p : b.live()) rs.emplace_back([&b, p] { b.remove(p); });
    for (auto& t : rs) t.join();
  }
  b.teardown();

  std::printf(
      "# Pods through the CRI: runc vs veil vs veil-vm (shim v2: one VM per pod) vs "
      "veil-vm-runc (runc shim: one VM per container)\n\n");
  std::printf(
      "| Handler | pod start median (ms) | p95 (ms) | %d pods at once (s) | memory per idle pod, "
      "PSS (MiB) | shim RSS (MiB) |\n",
      concurrent);
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const auto& h : handlers) {
    const auto& r = res[h];
    if (!r.error.empty() && starts[h].empty()) {
      std::printf("| %s | failed: %s | | | | |\n", h.c_str(), r.error.c_str());
      continue;
    }
    std::printf("| %s | %.0f | %.0f | %.2f | %.1f | %.1f |\n", h.c_str(), r.start.median,
                r.start.p95, r.concurrent_s, r.pss_mib, r.shim_rss_mib);
  }
  std::printf(
      "\n| Ratio to runc | pod start | %d pods at once | memory per pod |\n|---|---:|---:|---:|\n",
      concurrent);
  for (const auto& h : handlers) {
    if (h == "runc" || !res.count("runc")) continue;
    const auto &r = res[h], &base = res["runc"];
    if (base.start.median <= 0 || r.start.median <= 0) continue;
    std::printf("| %s/runc | %.2f | %.2f | %.2f |\n", h.c_str(), r.start.median / base.start.median,
                base.concurrent_s > 0 ? r.concurrent_s / base.concurrent_s : 0,
                base.pss_mib > 0 ? r.pss_mib / base.pss_mib : 0);
  }
  for (const auto& h : handlers)
    if (!res[h].error.empty()) std::printf("\n- %s: %s\n", h.c_str(), res[h].error.c_str());
  std::printf(
      "\n%d runs per handler after one warm-up (interleaved), %d pods started at once per "
      "handler.\n",
      runs, concurrent);
  return 0;
}
