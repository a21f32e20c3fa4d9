#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.hpp"
#include "base/unix_address.hpp"
#include "oci/spec.hpp"

namespace veil::test {
namespace {

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  if (!d) throw std::runtime_error("mkdtemp failed");
  ::chmod(d, 0755);  // containers with a user namespace run as an unprivileged host uid
  return d;
}

}  // namespace

Cmd run(const std::vector<std::string>& argv, const std::string& in) {
  int out[2], err[2], inp[2];
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(inp, O_CLOEXEC)) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(inp[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    _exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(inp[0]);
  if (!in.empty()) (void)!::write(inp[1], in.data(), in.size());
  ::close(inp[1]);
  Cmd c;
  // Read until the command exits, then drain what is already buffered. Not "until EOF": a
  // detached container inherits the pipes and may keep them open long after veil exited.
  struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int status = 0;
  bool exited = false;
  for (;;) {
    int ready = ::poll(p, 2, exited ? 0 : 20);
    bool got = false;
    if (ready > 0) {
      for (auto& fd : p) {
        if (fd.fd < 0 || !(fd.revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = ::read(fd.fd, buf, sizeof buf);
        if (n <= 0) {
          fd.fd = -1;
          continue;
        }
        got = true;
        (fd.fd == out[0] ? c.out : c.err).append(buf, static_cast<size_t>(n));
      }
    }
    if (p[0].fd < 0 && p[1].fd < 0 && exited) break;
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      continue;
    }
    if (exited && !got) break;
  }
  ::close(out[0]);
  ::close(err[0]);
  if (!exited) ::waitpid(pid, &status, 0);
  c.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return c;
}

Cmd sh(const std::string& script) {
  return run({"/bin/sh", "-c", script});
}

const std::string& rootfs() {
  static std::string path = [] {
    std::string dir = make_temp_dir("veil-itest-rootfs-");
    Cmd c = run({std::string(VEIL_SOURCE_DIR) + "/scripts/make-bundle.sh", dir});
    if (c.code != 0) throw std::runtime_error("make-bundle.sh failed: " + c.err);
    std::atexit([] {});
    return dir + "/rootfs";
  }();
  return path;
}

Bundle::Bundle(std::vector<std::string> args) {
  dir_ = make_temp_dir("veil-itest-bundle-");
  tag_ = dir_.substr(dir_.rfind('-') + 1);
  config = oci::default_spec(false, 0, 0);
  config["root"]["path"] = rootfs();
  config["root"]["readonly"] = true;
  config["process"]["terminal"] = false;
  config["process"]["args"] = args;
  config["process"]["env"].push_back("VEIL_TEST_TAG=" + tag_);
  config["hostname"] = "veil-test";
  // Resource limits land in a later release; keep the default config free of them.
  config["linux"].erase("resources");
  // A writable scratch space even with a read-only root.
  config["mounts"].push_back({{"destination", "/tmp"},
                              {"type", "tmpfs"},
                              {"source", "tmpfs"},
                              {"options", {"nosuid", "nodev", "mode=1777"}}});
  write();
}

Bundle::~Bundle() {
  (void)remove_all(dir_);
}

void Bundle::write() const {
  std::ofstream(dir_ + "/config.json") << config.dump(2);
}

Veil::Veil() {
  root_ = make_temp_dir("veil-itest-root-");
}

Veil::~Veil() {
  // Leave nothing running even when a test failed half-way.
  for (const auto& id : StateStoreIds()) (*this)({"delete", "--force", id});
  (void)remove_all(root_);
}

std::vector<std::string> Veil::StateStoreIds() const {
  std::vector<std::string> ids;
  if (DIR* d = ::opendir(root_.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') ids.push_back(e->d_name);
    ::closedir(d);
  }
  return ids;
}

Cmd Veil::operator()(std::vector<std::string> args, const std::string& in) const {
  args.insert(args.begin(), {VEIL_BINARY, "--root", root_});
  return run(args, in);
}

nlohmann::json Veil::state(const std::string& id) const {
  Cmd c = (*this)({"state", id});
  if (c.code != 0) return nullptr;
  return nlohmann::json::parse(c.out, nullptr, false);
}

std::string unique_id(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

::testing::AssertionResult nothing_left(const Veil& v, const std::string& id, const Bundle& b) {
  if (path_exists(v.root() + "/" + id))
    return ::testing::AssertionFailure()
           << "state directory " << v.root() << "/" << id << " still exists";
  for (const char* h : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
                        "/sys/fs/cgroup"}) {
    std::string d = std::string(h) + "/veil/" + id;
    if (path_exists(d)) return ::testing::AssertionFailure() << "cgroup " << d << " still exists";
  }
  auto mounts = read_file("/proc/self/mountinfo");
  if (mounts && mounts->find(rootfs()) != std::string::npos)
    return ::testing::AssertionFailure() << "a mount of the rootfs is visible on the host";
  std::string needle = "VEIL_TEST_TAG=" + b.tag();
  if (DIR* d = ::opendir("/proc")) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      auto env = read_file(std::string("/proc/") + e->d_name + "/environ");
      if (!env) continue;
      for (auto& ch : *env)
        if (ch == '\0') ch = '\n';
      if (env->find(needle + "\n") != std::string::npos) {
        auto st = read_file(std::string("/proc/") + e->d_name + "/stat");
        if (st && st->find(") Z") != std::string::npos) continue;  // zombie awaiting its parent
        ::closedir(d);
        return ::testing::AssertionFailure() << "process " << e->d_name << " is still running";
      }
    }
    ::closedir(d);
  }
  return ::testing::AssertionSuccess();
}

bool wait_status(const Veil& v, const std::string& id, const std::string& status, int timeout_ms) {
  for (int t = 0; t < timeout_ms; t += 10) {
    auto s = v.state(id);
    if (s.is_object() && s.value("status", "") == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Receives one fd over a unix socket (the console-socket protocol).
int receive_fd(int listener, std::string* name) {
  int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char buf[256] = {};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov {
    buf, sizeof buf - 1
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  int fd = -1;
  if (::recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) > 0) {
    *name = buf;
    for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  }
  ::close(conn);
  return fd;
}

int listen_unix(const std::string& path) {
  Fd dir;
  auto a = unix_address(path, dir);  // paths longer than sun_path too
  if (!a) return -1;
  sockaddr_un addr = *a;
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s, 1) != 0) {
    if (s >= 0) ::close(s);
    return -1;
  }
  return s;
}

std::string read_until(int fd, const std::string& needle, int timeout_ms) {
  std::string out;
  for (int waited = 0; waited < timeout_ms && out.find(needle) == std::string::npos;) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, 100) <= 0) {
      waited += 100;
      continue;
    }
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace veil::test
