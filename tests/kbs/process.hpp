// Runs `veil-kbs serve` as a child process and reads its banner (URL, TLS fingerprint).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace kbstest {

struct KbsProcess {
  pid_t pid = -1;
  std::string url, banner;

  // Starts the server; returns false if no "listening on" line within 10 s. `argv` (not empty)
  // runs another program that prints the same banner instead of `veil-kbs serve`.
  bool start(const std::string& config, const std::vector<std::string>& argv = {}) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return false;
    pid = fork();
    if (pid == 0) {
      dup2(p[1], 1);
      if (!argv.empty()) {
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
      }
      execl(VEIL_KBS_BINARY, "veil-kbs", "serve", "--config", config.c_str(), nullptr);
      _exit(127);
    }
    close(p[1]);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    char buf[512];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{p[0], POLLIN, 0};
      if (poll(&pfd, 1, 200) <= 0) continue;
      ssize_t n = read(p[0], buf, sizeof buf);
      if (n <= 0) break;
      banner.append(buf, n);
      auto at = banner.find("listening on ");
      auto nl = at == std::string::npos ? at : banner.find('\n', at);
      if (nl != std::string::npos) {
        url = banner.substr(at + 13, nl - at - 13);
        // Keep reading the fingerprint line if TLS (it follows immediately).
        if (url.starts_with("https") && banner.find("fingerprint") == std::string::npos) continue;
        close(p[0]);
        return true;
      }
    }
    close(p[0]);
    return false;
  }
  void kill_now(int sig = SIGKILL) {
    if (pid <= 0) return;
    ::kill(pid, sig);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~KbsProcess() { kill_now(); }
};

}  // namespace kbstest
