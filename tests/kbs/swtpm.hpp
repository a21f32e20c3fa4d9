// A private swtpm (TPM 2.0 simulator) on 127.0.0.1, started and killed by the test.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/file.hpp"

namespace kbstest {

class Swtpm {
 public:
  // Returns false (the test should skip) if swtpm is not installed or does not come up in 5 s.
  bool start() {
    if (access("/usr/bin/swtpm", X_OK) != 0) return false;
    char tmpl[] = "/tmp/veil-swtpm-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (int attempt = 0; attempt < 5; attempt++) {
      port_ = free_port();
      pid_ = fork();
      if (pid_ == 0) {
        std::string server = "type=tcp,port=" + std::to_string(port_) + ",bindaddr=127.0.0.1";
        std::string ctrl = "type=tcp,port=" + std::to_string(port_ + 1) + ",bindaddr=127.0.0.1";
        std::string state = "dir=" + dir_;
        execl("/usr/bin/swtpm", "swtpm", "socket", "--tpm2", "--server", server.c_str(), "--ctrl",
              ctrl.c_str(), "--tpmstate", state.c_str(), "--flags", "not-need-init,startup-clear",
              nullptr);
        _exit(127);
      }
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (std::chrono::steady_clock::now() < deadline) {
        if (connects(port_)) return true;
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      stop();
    }
    return false;
  }
  std::string tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  ~Swtpm() {
    stop();
    if (!dir_.empty()) (void)veil::remove_all(dir_);
  }

 private:
  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    int p = ntohs(a.sin_port);
    return p < 65000 ? p : 40000;
  }
  static bool connects(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
  }
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace kbstest
