// parse_spec(): config.json text -> validated Spec. Top level, root, mounts, hooks and annotations
// here; process and linux in parse_process.cpp and parse_linux.cpp.
#include <sched.h>

#include <cctype>
#include <charconv>

#include "base/file.hpp"
#include "oci/parse_internal.hpp"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace veil::oci {

using nlohmann::json;

namespace {

struct NsInfo {
  NsType type;
  const char* name;
  int flag;
};
constexpr NsInfo kNamespaces[] = {
    {NsType::pid, "pid", CLONE_NEWPID},          {NsType::network, "network", CLONE_NEWNET},
    {NsType::mount, "mount", CLONE_NEWNS},       {NsType::ipc, "ipc", CLONE_NEWIPC},
    {NsType::uts, "uts", CLONE_NEWUTS},          {NsType::user, "user", CLONE_NEWUSER},
    {NsType::cgroup, "cgroup", CLONE_NEWCGROUP}, {NsType::time, "time", CLONE_NEWTIME},
};

const NsInfo& ns_info(NsType t) {
  for (const auto& n : kNamespaces)
    if (n.type == t) return n;
  return kNamespaces[0];  // unreachable: every NsType is listed
}

// A SemVer 2.0 version "MAJOR.MINOR.PATCH[-pre][+build]"; returns the major number.
std::optional<unsigned long> semver_major(std::string_view v) {
  unsigned long nums[3];
  const char* p = v.data();
  const char* end = v.data() + v.size();
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    auto [next, ec] = std::from_chars(p, end, nums[i]);
    if (ec != std::errc() || next == p) return std::nullopt;
    p = next;
  }
  // Pre-release and build metadata: dot-separated [0-9A-Za-z-] identifiers.
  for (char sep : {'-', '+'}) {
    if (p == end || *p != sep) continue;
    ++p;
    const char* start = p;
    while (p != end && (std::isalnum(static_cast<unsigned char>(*p)) || *p == '-' || *p == '.'))
      ++p;
    if (p == start) return std::nullopt;
  }
  if (p != end) return std::nullopt;
  return nums[0];
}

Result<std::string> parse_version(const JsonAt& j) {
  auto v = VEIL_TRY(j.string());
  auto major = semver_major(v);
  if (!major)
    return j.fail("invalid version " + json_quote(v) + " (expected SemVer, e.g. \"1.0.2\")");
  if (*major != 1)
    return j.fail("unsupported version " + json_quote(v) + " (veil supports runtime-spec 1.x)");
  return v;
}

Result<Root> parse_root(const JsonAt& j) {
  VEIL_CHECK(j.object());
  Root r;
  r.path = VEIL_TRY(j["path"].string());
  if (r.path.empty()) return j["path"].fail("must not be empty");
  VEIL_CHECK(j["readonly"].get(r.readonly));
  return r;
}

Result<std::vector<Mount>> parse_mounts(const JsonAt& j) {
  size_t n = VEIL_TRY(j.array());
  std::vector<Mount> out;
  for (size_t i = 0; i < n; ++i) {
    JsonAt m = j[i];
    VEIL_CHECK(m.object());
    Mount mount;
    mount.destination = VEIL_TRY(m["destination"].abs_path());
    VEIL_CHECK(m["type"].get(mount.type));
    VEIL_CHECK(m["source"].get(mount.source));
    VEIL_CHECK(m["options"].get(mount.options));
    out.push_back(std::move(mount));
  }
  return out;
}

Result<std::vector<Hook>> parse_hook_list(const JsonAt& j) {
  std::vector<Hook> out;
  if (!j.present()) return out;
  size_t n = VEIL_TRY(j.array());
  for (size_t i = 0; i < n; ++i) {
    JsonAt h = j[i];
    VEIL_CHECK(h.object());
    Hook hook;
    hook.path = VEIL_TRY(h["path"].abs_path());
    VEIL_CHECK(h["args"].get(hook.args));
    VEIL_CHECK(h["env"].get(hook.env));
    VEIL_CHECK(h["timeout"].get(hook.timeout));
    if (hook.timeout && *hook.timeout <= 0)
      return h["timeout"].fail("must be a positive number of seconds, got " +
                               std::to_string(*hook.timeout));
    out.push_back(std::move(hook));
  }
  return out;
}

Result<Hooks> parse_hooks(const JsonAt& j) {
  VEIL_CHECK(j.object());
  Hooks h;
  h.prestart = VEIL_TRY(parse_hook_list(j["prestart"]));
  h.create_runtime = VEIL_TRY(parse_hook_list(j["createRuntime"]));
  h.create_container = VEIL_TRY(parse_hook_list(j["createContainer"]));
  h.start_container = VEIL_TRY(parse_hook_list(j["startContainer"]));
  h.poststart = VEIL_TRY(parse_hook_list(j["poststart"]));
  h.poststop = VEIL_TRY(parse_hook_list(j["poststop"]));
  return h;
}

// Setting the host name without a UTS namespace would change the host's. Like runc, a joined one
// (with a path) is fine: CRI runtimes set the hostname of containers that join a pod's namespace.
Result<> check_uts(const Spec& s, const JsonAt& top) {
  if (s.linux.find(NsType::uts)) return {};
  for (auto [key, value] : {std::pair{"hostname", &s.hostname}, {"domainname", &s.domainname}}) {
    if (!value->empty())
      return top[key].fail(
          "requires a UTS namespace (add {\"type\": \"uts\"} to linux.namespaces)");
  }
  return {};
}

}  // namespace

const char* ns_type_name(NsType t) {
  return ns_info(t).name;
}

std::optional<NsType> ns_type_from_name(std::string_view name) {
  for (const auto& n : kNamespaces)
    if (name == n.name) return n.type;
  return std::nullopt;
}

int ns_clone_flag(NsType t) {
  return ns_info(t).flag;
}

Result<Process> parse_process_json(std::string_view json_text) {
  json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) return fail("process: malformed JSON");
  JsonAt at(&doc, "process");
  VEIL_CHECK(at.object());
  return parse_process(at);
}

Result<Spec> parse_spec(std::string_view json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    // parse_error, or out_of_range for a number too large for a double (1E400; found by the
    // fuzzer: it used to escape as an exception and abort veil).
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag.
    if (what.starts_with("[json.exception.")) {
      if (auto sp = what.find("] "); sp != std::string::npos) what.erase(0, sp + 2);
    }
    auto* pe = dynamic_cast<const json::parse_error*>(&e);
    return fail("config.json: malformed JSON: " + what +
                (pe ? " (at byte " + std::to_string(pe->byte) + ")" : std::string()));
  }

  JsonAt top(doc);
  VEIL_CHECK(top.object());
  Spec s;
  s.oci_version = VEIL_TRY(parse_version(top["ociVersion"]));
  s.root = VEIL_TRY(parse_root(top["root"]));
  if (top["process"].present()) {
    s.process = VEIL_TRY(parse_process(top["process"]));
    s.has_process = true;
  }
  VEIL_CHECK(top["hostname"].get(s.hostname));
  VEIL_CHECK(top["domainname"].get(s.domainname));
  if (top["mounts"].present()) s.mounts = VEIL_TRY(parse_mounts(top["mounts"]));
  if (top["hooks"].present()) s.hooks = VEIL_TRY(parse_hooks(top["hooks"]));
  VEIL_CHECK(top["annotations"].get(s.annotations));
  if (top["linux"].present()) s.linux = VEIL_TRY(parse_linux(top["linux"]));
  VEIL_CHECK(check_uts(s, top));
  return s;
}

Result<Spec> load_spec(const std::string& bundle_dir) {
  std::string text = VEIL_TRY(read_file(bundle_dir + "/config.json"));
  return parse_spec(text);
}

}  // namespace veil::oci
