// A seccomp agent for the tests: listens on a unix socket the way runc-compatible agents do,
// receives the notify fd and the container state (runc's ContainerProcessState message), and
// answers every notification with "continue" (or leaves them unanswered when told to), recording
// what it saw.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace veil::test {

class SeccompAgent {
 public:
  // answer = false: takes the notify fd but never answers (a hung agent).
  explicit SeccompAgent(std::string socket_path, bool answer = true);
  ~SeccompAgent();
  const std::string& path() const { return path_; }
  int connections() const { return connections_; }
  std::set<int> syscalls() const;
  std::vector<std::string> messages() const;
  // Closes everything the agent holds (it "dies").
  void stop();

 private:
  void loop();
  std::string path_;
  bool answer_ = true;
  int listen_fd_ = -1, stop_fd_ = -1;
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::set<int> syscalls_;
  std::vector<std::string> messages_;
  std::thread thread_;
};

}  // namespace veil::test
