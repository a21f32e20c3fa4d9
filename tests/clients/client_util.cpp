#include "client_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.hpp"

namespace veil::clients {

std::string Cmd::describe() const {
  std::ostringstream o;
  o << "$ " << cmdline << "\n  exit " << code << (timed_out ? " (TIMED OUT, killed)" : "")
    << " after " << seconds << " s\n  stdout: " << out << "\n  stderr: " << err;
  return o.str();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Cmd run(const std::vector<std::string>& argv, int timeout_ms, const std::string& in) {
  Cmd c;
  for (const auto& a : argv) c.cmdline += (c.cmdline.empty() ? "" : " ") + a;
  auto t0 = std::chrono::steady_clock::now();
  int out[2], err[2], inp[2];
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(inp, O_CLOEXEC)) return c;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(inp[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::dprintf(2, "exec %s: %s\n", a[0], ::strerror(errno));
    _exit(127);
  }
  ::setpgid(pid, pid);
  ::close(out[1]);
  ::close(err[1]);
  ::close(inp[0]);
  if (!in.empty()) (void)!::write(inp[1], in.data(), in.size());
  ::close(inp[1]);
  // Read until the command exits, then drain what is already buffered: a daemonised child
  // (conmon, a shim) may keep the pipes open long after the command itself exited.
  struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int status = 0;
  bool exited = false;
  auto deadline = t0 + std::chrono::milliseconds(timeout_ms);
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
    if (!exited && std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      c.timed_out = true;
      exited = true;
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  c.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  c.seconds = seconds_since(t0);
  return c;
}

std::string which(const std::string& prog) {
  std::string path = ::getenv("PATH") ? ::getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin";
  std::stringstream ss(path);
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) continue;
    std::string f = d + "/" + prog;
    if (::access(f.c_str(), X_OK) == 0) return f;
  }
  return "";
}

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  if (!d) throw std::runtime_error("mkdtemp failed");
  ::chmod(d, 0755);
  return d;
}

bool wait_until(const std::function<bool()>& pred, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<pid_t> pids_with_cmdline(const std::string& needle) {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t pid = std::atoi(e->d_name);
    if (pid == ::getpid()) continue;
    auto cmd = read_file(std::string("/proc/") + e->d_name + "/cmdline");
    if (!cmd || cmd->find(needle) == std::string::npos) continue;
    auto st = read_file(std::string("/proc/") + e->d_name + "/stat");
    if (st) {
      auto rp = st->rfind(") ");
      if (rp != std::string::npos && st->compare(rp + 2, 1, "Z") == 0) continue;
    }
    pids.push_back(pid);
  }
  ::closedir(d);
  return pids;
}

void kill_pids(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) ::kill(p, SIGKILL);
  wait_until(
      [&] {
        for (pid_t p : pids) {
          auto st = read_file("/proc/" + std::to_string(p) + "/stat");
          if (!st) continue;
          auto rp = st->rfind(") ");
          if (rp != std::string::npos && st->compare(rp + 2, 1, "Z") == 0) continue;
          return false;
        }
        return true;
      },
      5000);
}

namespace {
// Unescapes the octal escapes (\040 etc.) of /proc/self/mountinfo.
std::string unescape(const std::string& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      r += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      r += s[i];
    }
  }
  return r;
}
}  // namespace

std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> r;
  auto mi = read_file("/proc/self/mountinfo");
  if (!mi) return r;
  std::istringstream in(*mi);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string id, parent, devno, root, mp;
    l >> id >> parent >> devno >> root >> mp;
    mp = unescape(mp);
    if (mp == dir || mp.rfind(dir + "/", 0) == 0) r.push_back(mp);
  }
  std::sort(r.begin(), r.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return r;
}

void remove_tree(const std::string& dir) {
  if (dir.size() < 6 || dir.rfind("/tmp/", 0) != 0) return;  // never anything but our temp dirs
  for (int round = 0; round < 5; ++round) {
    auto m = mounts_under(dir);
    if (m.empty()) break;
    for (const auto& mp : m) ::umount2(mp.c_str(), MNT_DETACH);
  }
  (void)remove_all(dir);
}

std::vector<std::string> cgroup_dirs(const std::string& rel) {
  std::vector<std::string> r;
  DIR* d = ::opendir("/sys/fs/cgroup");
  if (!d) return r;
  if (exists("/sys/fs/cgroup" + rel)) r.push_back("/sys/fs/cgroup" + rel);
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string h = std::string("/sys/fs/cgroup/") + e->d_name;
    if (exists(h + "/cgroup.procs") && exists(h + rel)) r.push_back(h + rel);
  }
  ::closedir(d);
  return r;
}

namespace {
void rmdir_tree(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subs;
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.' || e->d_type != DT_DIR) continue;
      subs.push_back(dir + "/" + e->d_name);
    }
    ::closedir(d);
    for (const auto& s : subs) rmdir_tree(s);
  }
  ::rmdir(dir.c_str());
}
}  // namespace

void remove_cgroup_dirs(const std::string& rel) {
  if (rel.size() < 2) return;
  // The v2 hierarchy mounted at /sys/fs/cgroup holds v1-looking names too; rmdir only removes
  // empty cgroups, so a wrong guess is harmless.
  for (const auto& d : cgroup_dirs(rel)) rmdir_tree(d);
}

void rmdir_empty_up(const std::string& path, const std::string& stop) {
  std::string p = path;
  while (!p.empty() && p != stop && p.rfind(stop + "/", 0) == 0) {
    if (::rmdir(p.c_str()) != 0) break;
    p = p.substr(0, p.rfind('/'));
  }
}

Cmd make_image(const std::string& out_tar, const std::string& name, const std::string& cmd_json) {
  return run({std::string(VEIL_SOURCE_DIR) + "/tests/clients/make-oci-image.sh", out_tar, name,
              "latest", cmd_json},
             60000);
}

bool have_bounding_cap(int cap) {
  auto s = read_file("/proc/self/status");
  if (!s) return false;
  auto p = s->find("CapBnd:");
  if (p == std::string::npos) return false;
  unsigned long long v = std::stoull(s->substr(p + 7), nullptr, 16);
  return (v >> cap) & 1;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string read(const std::string& path) {
  auto r = read_file(path);
  return r ? *r : std::string();
}

void write(const std::string& path, const std::string& data) {
  std::ofstream(path) << data;
}

}  // namespace veil::clients
