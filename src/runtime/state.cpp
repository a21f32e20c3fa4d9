#include "runtime/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "base/file.hpp"

namespace veil::runtime {

const char* status_name(Status s) {
  switch (s) {
    case Status::creating:
      return "creating";
    case Status::created:
      return "created";
    case Status::running:
      return "running";
    case Status::paused:
      return "paused";
    case Status::stopped:
      return "stopped";
  }
  return "unknown";
}

nlohmann::json State::public_json(Status s) const {
  nlohmann::json j = {
      {"ociVersion", oci_version}, {"id", id},         {"pid", s == Status::stopped ? 0 : pid},
      {"status", status_name(s)},  {"bundle", bundle}, {"rootfs", rootfs},
      {"created", created},        {"owner", owner}};
  j["annotations"] = annotations.empty() ? nlohmann::json::object() : nlohmann::json(annotations);
  return j;
}

nlohmann::json State::to_json() const {
  nlohmann::json j = public_json(Status::created);
  j.erase("status");
  j["pid"] = pid;
  auto hooks_json = [](const std::vector<oci::Hook>& hs) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& h : hs) {
      nlohmann::json o = {{"path", h.path}, {"args", h.args}, {"env", h.env}};
      if (h.timeout) o["timeout"] = *h.timeout;
      a.push_back(o);
    }
    return a;
  };
  j["veil"] = {{"pidStartTime", pid_start_time},     {"creating", creating},
               {"cgroupDirs", cgroup_dirs},          {"devices", devices.to_json()},
               {"poststart", hooks_json(poststart)}, {"poststop", hooks_json(poststop)}};
  if (!guard.is_null()) j["veil"]["guard"] = guard;
  if (!handler.empty()) j["veil"]["handler"] = handler;
  return j;
}

namespace {

// An integer field that fits T. nlohmann's get<T>() converts a float with a plain cast (undefined
// behaviour when out of range; found by fuzz/state_fuzz.cpp with pidStartTime 2.2e82) and
// truncates integers too wide for T.
template <class T>
T integer(const nlohmann::json& v, const char* name) {
  if (v.is_number_unsigned() && std::in_range<T>(v.get<uint64_t>()))
    return static_cast<T>(v.get<uint64_t>());
  if (v.is_number_integer() && !v.is_number_unsigned() && std::in_range<T>(v.get<int64_t>()))
    return static_cast<T>(v.get<int64_t>());
  throw std::out_of_range(std::string(name) + " is not an integer in range");
}

}  // namespace

Result<State> State::from_json(const nlohmann::json& j) {
  try {
    State s;
    s.oci_version = j.at("ociVersion").get<std::string>();
    s.id = j.at("id").get<std::string>();
    s.pid = integer<pid_t>(j.at("pid"), "pid");
    s.bundle = j.at("bundle").get<std::string>();
    s.rootfs = j.at("rootfs").get<std::string>();
    s.created = j.at("created").get<std::string>();
    s.owner = j.value("owner", "");
    if (j.contains("annotations") && j["annotations"].is_object())
      s.annotations = j["annotations"].get<std::map<std::string, std::string>>();
    const auto& v = j.at("veil");
    s.pid_start_time = integer<uint64_t>(v.at("pidStartTime"), "pidStartTime");
    s.creating = v.at("creating").get<bool>();
    s.cgroup_dirs = v.at("cgroupDirs").get<std::vector<std::string>>();
    if (v.contains("guard")) s.guard = v["guard"];
    if (v.contains("handler") && v["handler"].is_string())
      s.handler = v["handler"].get<std::string>();
    auto devices = cgroups::DeviceState::from_json(v.value("devices", nlohmann::json()));
    if (!devices) return fail("corrupt state file: " + devices.error().msg);
    s.devices = std::move(*devices);
    auto hooks_from = [](const nlohmann::json& a) {
      std::vector<oci::Hook> out;
      if (!a.is_array()) return out;
      for (const auto& o : a) {
        oci::Hook h;
        h.path = o.at("path").get<std::string>();
        h.args = o.value("args", std::vector<std::string>{});
        h.env = o.value("env", std::vector<std::string>{});
        if (o.contains("timeout")) h.timeout = integer<int>(o["timeout"], "timeout");
        out.push_back(std::move(h));
      }
      return out;
    };
    s.poststart = hooks_from(v.value("poststart", nlohmann::json()));
    s.poststop = hooks_from(v.value("poststop", nlohmann::json()));
    return s;
  } catch (const std::exception& e) {
    return fail(std::string("corrupt state file: ") + e.what());
  }
}

Result<> validate_id(const std::string& id) {
  if (id.empty()) return fail("container id must not be empty");
  if (id.size() > 1024) return fail("container id is longer than 1024 characters");
  if (id == "." || id == "..") return fail("invalid container id \"" + id + "\"");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-' || c == '.';
    if (!ok)
      return fail("invalid container id \"" + id +
                  "\": only letters, digits and _ + - . are allowed");
  }
  return {};
}

static Result<Fd> lock_dir(const std::string& path, bool exclusive) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_errno("open " + path);
  if (::flock(fd.get(), exclusive ? LOCK_EX : LOCK_SH) != 0) return fail_errno("lock " + path);
  return fd;
}

Result<State> ContainerDir::load() const {
  auto text = read_file(path_ + "/state.json");
  if (!text) return std::unexpected(text.error().wrap("container \"" + id_ + "\""));
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return fail("container \"" + id_ + "\": corrupt state file");
  return State::from_json(j);
}

Result<> ContainerDir::save(const State& s) const {
  return write_file_atomic(path_ + "/state.json", s.to_json().dump(), 0600);
}

Result<> ContainerDir::remove() {
  auto r = remove_all(path_);
  lock_.reset();
  return r;
}

Result<ContainerDir> StateStore::create(const std::string& id) const {
  VEIL_CHECK(validate_id(id));
  if (auto r = mkdir_all(root_, 0700); !r) return std::unexpected(r.error().wrap("--root"));
  std::string path = root_ + "/" + id;
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno == EEXIST) return fail("container \"" + id + "\" already exists");
    return fail_errno("create state directory " + path);
  }
  auto lock = lock_dir(path, true);
  if (!lock) {
    ::rmdir(path.c_str());
    return std::unexpected(lock.error());
  }
  ContainerDir d;
  d.path_ = path;
  d.id_ = id;
  d.lock_ = std::move(*lock);
  return d;
}

Result<ContainerDir> StateStore::open(const std::string& id, bool exclusive) const {
  VEIL_CHECK(validate_id(id));
  std::string path = root_ + "/" + id;
  auto lock = lock_dir(path, exclusive);
  if (!lock) {
    if (lock.error().err == ENOENT) return fail("container \"" + id + "\" does not exist");
    return std::unexpected(lock.error());
  }
  // A concurrent delete may have removed the directory while we waited for the lock.
  struct stat st;
  if (::fstat(lock->get(), &st) != 0 || st.st_nlink == 0)
    return fail("container \"" + id + "\" does not exist");
  ContainerDir d;
  d.path_ = path;
  d.id_ = id;
  d.lock_ = std::move(*lock);
  return d;
}

std::vector<std::string> StateStore::list() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(root_.c_str());
  if (!d) return ids;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (!validate_id(n)) continue;
    if (path_exists(root_ + "/" + n + "/state.json")) ids.push_back(n);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace veil::runtime
