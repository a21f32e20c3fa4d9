#include "linux/cgroup_freezer.hpp"

#include <time.h>

#include <optional>

#include "base/file.hpp"

namespace veil::cgroups {
namespace {

struct Freezer {
  std::string file;
  bool v1 = false;
};

// The v1 freezer wins on hybrid hosts: it is where runc looks too, and it freezes reliably there.
std::optional<Freezer> locate(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs)
    if (path_exists(d + "/freezer.state")) return Freezer{d + "/freezer.state", true};
  for (const auto& d : dirs)
    if (path_exists(d + "/cgroup.freeze")) return Freezer{d + "/cgroup.freeze", false};
  return std::nullopt;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool events_frozen(const std::string& freeze_file) {
  // v2: cgroup.events has "frozen 1" once every task is frozen.
  std::string dir = freeze_file.substr(0, freeze_file.rfind('/'));
  auto ev = read_file(dir + "/cgroup.events");
  return ev && ev->find("frozen 1") != std::string::npos;
}

}  // namespace

Result<> set_frozen(const std::vector<std::string>& dirs, bool frozen) {
  auto f = locate(dirs);
  if (!f)
    return fail(
        "pause/resume: no freezer (neither the v1 freezer nor cgroup.freeze) for this container");
  std::string want = f->v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
  for (int i = 0; i < 1000; ++i) {
    if (auto r = write_file(f->file, want); !r) return std::unexpected(r.error().wrap("freezer"));
    bool done = f->v1 ? trimmed(read_file(f->file).value_or("")) == want
                      : (events_frozen(f->file) == frozen);
    if (done) return {};
    struct timespec ts {
      0, 1'000'000
    };
    nanosleep(&ts, nullptr);
  }
  return fail(std::string("freezer: the cgroup did not become ") + (frozen ? "frozen" : "thawed"));
}

bool is_frozen(const std::vector<std::string>& dirs) {
  auto f = locate(dirs);
  if (!f) return false;
  if (f->v1) return trimmed(read_file(f->file).value_or("")) == "FROZEN";
  return trimmed(read_file(f->file).value_or("")) == "1";
}

bool any_frozen(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    if (auto v1 = read_file(d + "/freezer.state"); v1 && trimmed(*v1) != "THAWED") return true;
    if (trimmed(read_file(d + "/cgroup.freeze").value_or("0")) == "1") return true;
    if (auto ev = read_file(d + "/cgroup.events"); ev && ev->find("frozen 1") != std::string::npos)
      return true;
  }
  return false;
}

}  // namespace veil::cgroups
