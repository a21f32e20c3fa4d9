#include "guard/daemon/containers.hpp"

#include <dirent.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/file.hpp"
#include "guard/registry.hpp"
#include "linux/cgroups.hpp"

namespace veil::guard {

Result<Container*> Containers::load(uint64_t cgid) {
  auto text = VEIL_TRY(read_file(inst_.registry_file(cgid)));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object())
    return fail("registry file for cgroup " + std::to_string(cgid) + ": malformed");
  Container c;
  static_cast<ContainerInfo&>(c) = ContainerInfo::from_json(j);
  c.cgroup_id = cgid;
  c.spec = VEIL_TRY(Spec::from_json(j.value("spec", nlohmann::json())));
  auto it = by_cgroup_.find(cgid);
  if (it != by_cgroup_.end()) {
    c.notify_fds = std::move(it->second.notify_fds);
    c.marked = it->second.marked;
  }
  by_cgroup_[cgid] = std::move(c);
  return &by_cgroup_[cgid];
}

std::vector<uint64_t> Containers::scan() {
  std::vector<uint64_t> out;
  DIR* d = ::opendir(inst_.registry_dir().c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (!n.ends_with(".json")) continue;
    char* end = nullptr;
    uint64_t id = std::strtoull(n.c_str(), &end, 10);
    if (id == 0 || std::string(end) != ".json") continue;
    if (load(id)) out.push_back(id);
  }
  ::closedir(d);
  return out;
}

Container* Containers::find(uint64_t cgid) {
  auto it = by_cgroup_.find(cgid);
  if (it != by_cgroup_.end()) return &it->second;
  auto c = load(cgid);
  return c ? *c : nullptr;
}

Container* Containers::of_pid(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return nullptr;
  std::string path;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("0::")) path = line.substr(3);
  }
  if (path.empty()) return nullptr;
  if (v2_root_.empty()) {
    auto layout = cgroups::probe();
    if (!layout) return nullptr;
    for (const auto& h : layout->hierarchies)
      if (h.v2) v2_root_ = h.mountpoint;
  }
  // The nearest registered ancestor, as the kernel side does.
  for (std::string p = path;;) {
    if (auto id = cgroup_id(v2_root_ + p))
      if (Container* c = find(*id)) return c;
    auto slash = p.rfind('/');
    if (slash == std::string::npos || p == "/") break;
    p = slash == 0 ? "/" : p.substr(0, slash);
    if (p == "/") break;
  }
  return nullptr;
}

void Containers::remove(uint64_t cgid) {
  auto it = by_cgroup_.find(cgid);
  if (it == by_cgroup_.end()) return;
  for (int fd : it->second.notify_fds) ::close(fd);
  by_cgroup_.erase(it);
}

bool Containers::any_path_rules() const {
  for (const auto& [id, c] : by_cgroup_) {
    if (c.spec.exec_rules == Mode::off) continue;
    for (const auto* list : {&c.spec.exec_allow, &c.spec.exec_deny})
      for (const auto& e : *list)
        if (!e.starts_with("sha256:")) return true;
  }
  return false;
}

}  // namespace veil::guard
