#include "guard_daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "client_util.hpp"

namespace veil::clients {

GuardDaemon::GuardDaemon(const std::string& dir)
    : run_dir_(dir + "/guard"), bpffs_("/sys/fs/bpf/veil-client-" + std::to_string(::getpid())) {}

std::string GuardDaemon::start() {
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = ::open((run_dir_ + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execl(VEIL_GUARD_BINARY, "veil-guard", "--dir", run_dir_.c_str(), "--bpffs", bpffs_.c_str(),
            "daemon", nullptr);
    _exit(127);
  }
  bool up = wait_until(
      [&] {
        Cmd s = run({VEIL_GUARD_BINARY, "--dir", run_dir_, "--bpffs", bpffs_, "status", "--json"});
        return s.out.find("\"exec_decisions\"") != std::string::npos;
      },
      10000);
  return up ? "" : "guard daemon did not start: " + read(run_dir_ + ".log");
}

GuardDaemon::~GuardDaemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  run({VEIL_GUARD_BINARY, "--dir", run_dir_, "--bpffs", bpffs_, "unload"});
}

std::vector<std::string> GuardDaemon::records_with(const std::string& needle,
                                                   int timeout_ms) const {
  std::vector<std::string> out;
  wait_until(
      [&] {
        out.clear();
        std::istringstream in(read(run_dir_ + "/audit.jsonl"));
        std::string l;
        while (std::getline(in, l))
          if (l.find(needle) != std::string::npos) out.push_back(l);
        return !out.empty();
      },
      timeout_ms);
  return out;
}

}  // namespace veil::clients
