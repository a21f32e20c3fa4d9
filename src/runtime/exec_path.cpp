#include "runtime/exec_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/strings.hpp"

namespace veil::runtime {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool executable(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

Result<std::string> find_executable(const std::string& arg0, const std::vector<std::string>& env) {
  if (arg0.find('/') != std::string::npos) {
    struct stat st;
    if (::stat(arg0.c_str(), &st) != 0) return fail_errno("exec: \"" + arg0 + "\"");
    if (S_ISDIR(st.st_mode)) return fail("exec: \"" + arg0 + "\": is a directory");
    return arg0;
  }
  std::string path = kDefaultPath;
  for (const auto& e : env)
    if (e.starts_with("PATH=")) path = e.substr(5);
  for (std::string dir : split(path, ':')) {
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + arg0;
    if (executable(cand)) return cand;
  }
  return fail("exec: \"" + arg0 + "\": executable file not found in $PATH", ENOENT);
}

std::vector<std::string> with_home(const std::vector<std::string>& env, uid_t uid) {
  for (const auto& e : env)
    if (e.starts_with("HOME=")) return env;
  std::string home = "/";
  if (auto pw = read_file("/etc/passwd")) {
    for (const auto& line : split(*pw, '\n')) {
      // name:pw:uid:gid:gecos:home:shell
      std::vector<std::string> f = split(line, ':');
      if (f.size() >= 6 && f[2] == std::to_string(uid)) {
        if (!f[5].empty()) home = f[5];
        break;
      }
    }
  }
  std::vector<std::string> out = env;
  out.push_back("HOME=" + home);
  return out;
}

}  // namespace veil::runtime
