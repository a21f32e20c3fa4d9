#include "containerd_daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace veil::clients {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> r;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) r.push_back(l);
  return r;
}

void write_cni_bridge(const std::string& dir, const std::string& name, const std::string& bridge,
                      const std::string& subnet_prefix) {
  nlohmann::json conf = {{"cniVersion", "0.4.0"},
                         {"name", name},
                         {"plugins",
                          {{{"type", "bridge"},
                            {"bridge", bridge},
                            {"isGateway", true},
                            {"ipMasq", false},
                            {"ipam",
                             {{"type", "host-local"},
                              {"ranges", {{{{"subnet", subnet_prefix + "0/24"}}}}},
                              {"routes", {{{"dst", "0.0.0.0/0"}}}},
                              {"dataDir", dir + "/ipam"}}}}}}};
  run({"mkdir", "-p", dir + "/cni"});
  write(dir + "/cni/10-" + name + ".conflist", conf.dump(2));
}

void remove_cni_bridge(const std::string& bridge) {
  run({"ip", "link", "del", bridge}, 10000);
}

std::string doc_block(const std::string& marker, const std::string& doc) {
  std::string text = read(std::string(VEIL_SOURCE_DIR) + "/" + doc);
  auto at = text.find("<!-- tested: " + marker);
  if (at == std::string::npos) return "";
  auto open = text.find("```", at);
  auto body = text.find('\n', open) + 1;
  auto close = text.find("```", body);
  return text.substr(body, close - body);
}

std::string ContainerdDaemon::config(const std::string& dir, const ContainerdOptions& o) {
  std::string c = "version = 2\n";
  c += "root = \"" + dir + "/root\"\n";
  c += "state = \"" + dir + "/state\"\n";
  c += "[grpc]\n  address = \"" + dir + "/containerd.sock\"\n";
  c += "[ttrpc]\n  address = \"" + dir + "/containerd.sock.ttrpc\"\n";
  c += "[debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n";
  // The CRI section is the one in docs/kubernetes.md.
  c += "[plugins.\"io.containerd.grpc.v1.cri\"]\n";
  c += "  restrict_oom_score_adj = true\n";
  c += "  sandbox_image = \"" + std::string(kPauseImage) + "\"\n";
  if (!o.cni_conf_dir.empty()) {
    c += "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n";
    c += "    bin_dir = \"/usr/lib/cni\"\n";
    c += "    conf_dir = \"" + o.cni_conf_dir + "\"\n";
    c += "    max_conf_num = 1\n";
  }
  c += "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n";
  c += "    snapshotter = \"overlayfs\"\n";
  c += "    default_runtime_name = \"runc\"\n";
  c += "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n";
  c += "      runtime_type = \"io.containerd.runc.v2\"\n";
  c += "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.veil]\n";
  c += "      runtime_type = \"io.containerd.runc.v2\"\n";
  c += "      pod_annotations = [\"org.veil.*\"]\n";
  c += "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.veil.options]\n";
  c += "        BinaryName = \"" + o.veil + "\"\n";
  c += "        Root = \"" + dir + "/runc\"\n";
  // The shim v2's entry exactly as docs/kubernetes.md has it (containerd finds the shim on its
  // PATH, which start() prefixes with the shim's directory).
  if (!o.veil_shim.empty()) c += doc_block("veil-vm runtime");
  if (!o.veil_vm.empty()) {
    c += "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.veil-vm-runc]\n";
    c += "      runtime_type = \"io.containerd.runc.v2\"\n";
    c += "      pod_annotations = [\"org.veil.*\"]\n";
    c += "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.veil-vm-runc.options]\n";
    c += "        BinaryName = \"" + o.veil_vm + "\"\n";
    c += "        Root = \"" + dir + "/runc\"\n";
  }
  return c;
}

std::string ContainerdDaemon::start(const std::string& dir, const ContainerdOptions& o) {
  dir_ = dir;
  sock_ = dir + "/containerd.sock";
  std::string cfg = dir + "/config.toml";
  write(cfg, config(dir, o));
  pid_ = ::fork();
  if (pid_ < 0) return "fork containerd";
  if (pid_ == 0) {
    ::setsid();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
    int log = ::open((dir + "/containerd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    if (!o.veil_shim.empty()) {  // io.containerd.veil.v2 → containerd-shim-veil-v2 on PATH
      std::string path = o.veil_shim.substr(0, o.veil_shim.rfind('/'));
      if (const char* p = ::getenv("PATH")) path += std::string(":") + p;
      ::setenv("PATH", path.c_str(), 1);
    }
    ::execlp("containerd", "containerd", "--config", cfg.c_str(), nullptr);
    _exit(127);
  }
  bool up = wait_until(
      [&] {
        int st;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          return true;  // exited: reported below
        }
        return exists(sock_) && ctr({"version"}, "default", 5000).code == 0;
      },
      20000);
  if (!up || pid_ <= 0) {
    std::string why = pid_ <= 0 ? "containerd exited" : "containerd did not answer within 20 s";
    stop();
    return why + "; its log:\n" + log();
  }
  return "";
}

void ContainerdDaemon::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!wait_until([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, 10000)) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

std::vector<std::string> ContainerdDaemon::complaints() const {
  std::vector<std::string> out;
  for (const auto& l : lines_of(log()))
    if ((l.find("level=error") != std::string::npos ||
         l.find("level=warning") != std::string::npos) &&
        l.find("devmapper") == std::string::npos)
      out.push_back(l);
  return out;
}

Cmd ContainerdDaemon::ctr(std::vector<std::string> args, const std::string& ns,
                          int timeout_ms) const {
  args.insert(args.begin(), {"ctr", "-a", sock_, "-n", ns});
  return run(args, timeout_ms);
}

}  // namespace veil::clients
