#include <gtest/gtest.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/file.hpp"
#include "oci/spec.hpp"

using nlohmann::json;
using namespace veil;
using namespace veil::oci;

namespace {

json minimal() {
  return {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", "rootfs"}}},
      {"process", {{"args", json::array({"sh"})}}},
  };
}

// The error message of parsing `j`, or "<parsed OK>".
std::string error_of(const json& j) {
  auto r = parse_spec(j.dump());
  return r ? std::string("<parsed OK>") : r.error().msg;
}

::testing::AssertionResult FailsWith(const json& j, const std::string& prefix) {
  std::string msg = error_of(j);
  if (msg.starts_with(prefix)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "error: " << msg << "\nexpected prefix: " << prefix;
}

Spec parse_ok(const json& j) {
  auto r = parse_spec(j.dump());
  EXPECT_TRUE(r.has_value()) << r.error().msg;
  return r ? *r : Spec{};
}

const char* kFullConfig = R"({
  "ociVersion": "1.1.0",
  "root": {"path": "/bundle/rootfs", "readonly": true},
  "process": {
    "terminal": true,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 1000, "gid": 1001, "umask": 18, "additionalGids": [5, 6]},
    "args": ["/bin/sh", "-c", "echo hi"],
    "env": ["PATH=/bin", "EMPTY="],
    "cwd": "/work",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
      "effective": ["CAP_KILL"],
      "inheritable": [],
      "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_NET_RAW"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615}],
    "noNewPrivileges": true,
    "oomScoreAdj": -500,
    "apparmorProfile": "veil-default",
    "selinuxLabel": "system_u:system_r:container_t:s0"
  },
  "hostname": "box",
  "domainname": "example.org",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]}
  ],
  "hooks": {
    "prestart": [{"path": "/usr/bin/pre", "args": ["pre", "x"], "env": ["A=1"], "timeout": 5}],
    "createRuntime": [{"path": "/bin/cr"}],
    "createContainer": [{"path": "/bin/cc"}],
    "startContainer": [{"path": "/bin/sc"}],
    "poststart": [{"path": "/bin/ps"}],
    "poststop": [{"path": "/bin/pst"}, {"path": "/bin/pst2"}]
  },
  "annotations": {"org.example.key": "value"},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"},
                   {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "user"},
                   {"type": "cgroup"}, {"type": "time"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}],
    "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438,
                 "uid": 0, "gid": 0},
                {"path": "/dev/fifo", "type": "p"}],
    "cgroupsPath": "/veil/box",
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "timeOffsets": {"monotonic": {"secs": -3600, "nanosecs": 5}, "boottime": {"secs": 7}},
    "mountLabel": "system_u:object_r:container_file_t:s0",
    "resources": {"memory": {"limit": 1048576}},
    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}
  }
})";

}  // namespace

TEST(OciParse, FullConfig) {
  auto r = parse_spec(kFullConfig);
  ASSERT_TRUE(r) << r.error().msg;
  const Spec& s = *r;
  EXPECT_EQ(s.oci_version, "1.1.0");
  EXPECT_EQ(s.root.path, "/bundle/rootfs");
  EXPECT_TRUE(s.root.readonly);

  ASSERT_TRUE(s.has_process);
  const Process& p = s.process;
  EXPECT_TRUE(p.terminal);
  ASSERT_TRUE(p.console_size);
  EXPECT_EQ(p.console_size->height, 24u);
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.gid, 1001u);
  EXPECT_EQ(p.user.umask, 18u);
  EXPECT_EQ(p.user.additional_gids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(p.args, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(p.env, (std::vector<std::string>{"PATH=/bin", "EMPTY="}));
  EXPECT_EQ(p.cwd, "/work");
  ASSERT_TRUE(p.capabilities);
  EXPECT_EQ(p.capabilities->bounding, (std::vector<int>{CAP_CHOWN, CAP_SYS_ADMIN}));
  EXPECT_EQ(p.capabilities->effective, (std::vector<int>{CAP_KILL}));
  EXPECT_TRUE(p.capabilities->inheritable.empty());
  EXPECT_EQ(p.capabilities->permitted, (std::vector<int>{CAP_KILL, CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(p.capabilities->ambient, (std::vector<int>{CAP_NET_RAW}));
  ASSERT_EQ(p.rlimits.size(), 2u);
  EXPECT_EQ(p.rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(p.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(p.rlimits[0].soft, 1024u);
  EXPECT_EQ(p.rlimits[0].hard, 4096u);
  EXPECT_EQ(p.rlimits[1].resource, RLIMIT_CORE);
  EXPECT_EQ(p.rlimits[1].hard, UINT64_MAX);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(p.oom_score_adj, -500);
  EXPECT_EQ(p.apparmor_profile, "veil-default");
  EXPECT_EQ(p.selinux_label, "system_u:system_r:container_t:s0");

  EXPECT_EQ(s.hostname, "box");
  EXPECT_EQ(s.domainname, "example.org");
  ASSERT_EQ(s.mounts.size(), 2u);
  EXPECT_EQ(s.mounts[0].destination, "/proc");
  EXPECT_EQ(s.mounts[0].type, "proc");
  EXPECT_TRUE(s.mounts[0].options.empty());
  EXPECT_EQ(s.mounts[1].source, "/srv/data");
  EXPECT_EQ(s.mounts[1].options, (std::vector<std::string>{"rbind", "ro"}));

  ASSERT_EQ(s.hooks.prestart.size(), 1u);
  EXPECT_EQ(s.hooks.prestart[0].path, "/usr/bin/pre");
  EXPECT_EQ(s.hooks.prestart[0].args, (std::vector<std::string>{"pre", "x"}));
  EXPECT_EQ(s.hooks.prestart[0].env, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(s.hooks.prestart[0].timeout, 5);
  EXPECT_EQ(s.hooks.create_runtime.at(0).path, "/bin/cr");
  EXPECT_FALSE(s.hooks.create_runtime.at(0).timeout);
  EXPECT_EQ(s.hooks.create_container.at(0).path, "/bin/cc");
  EXPECT_EQ(s.hooks.start_container.at(0).path, "/bin/sc");
  EXPECT_EQ(s.hooks.poststart.at(0).path, "/bin/ps");
  EXPECT_EQ(s.hooks.poststop.size(), 2u);
  EXPECT_EQ(s.annotations.at("org.example.key"), "value");

  const Linux& l = s.linux;
  ASSERT_EQ(l.namespaces.size(), 8u);
  EXPECT_EQ(l.namespaces[0].type, NsType::pid);
  EXPECT_EQ(l.namespaces[1].type, NsType::network);
  EXPECT_EQ(l.namespaces[1].path, "/var/run/netns/x");
  EXPECT_EQ(l.namespaces[7].type, NsType::time);
  ASSERT_NE(l.find(NsType::user), nullptr);
  EXPECT_TRUE(l.find(NsType::user)->path.empty());
  ASSERT_EQ(l.uid_mappings.size(), 1u);
  EXPECT_EQ(l.uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(l.uid_mappings[0].size, 65536u);
  EXPECT_EQ(l.gid_mappings.at(0).host_id, 200000u);
  ASSERT_EQ(l.devices.size(), 2u);
  EXPECT_EQ(l.devices[0].type, 'c');
  EXPECT_EQ(l.devices[0].major, 10);
  EXPECT_EQ(l.devices[0].minor, 229);
  EXPECT_EQ(l.devices[0].file_mode, 438u);
  EXPECT_EQ(l.devices[0].uid, 0u);
  EXPECT_EQ(l.devices[1].type, 'p');
  EXPECT_FALSE(l.devices[1].uid);
  EXPECT_EQ(l.cgroups_path, "/veil/box");
  EXPECT_EQ(l.sysctl.at("net.ipv4.ip_forward"), "1");
  EXPECT_EQ(l.rootfs_propagation, "rslave");
  EXPECT_EQ(l.masked_paths, (std::vector<std::string>{"/proc/kcore"}));
  EXPECT_EQ(l.readonly_paths, (std::vector<std::string>{"/proc/sys"}));
  EXPECT_EQ(l.time_offsets.at("monotonic").secs, -3600);
  EXPECT_EQ(l.time_offsets.at("monotonic").nanosecs, 5u);
  EXPECT_EQ(l.time_offsets.at("boottime").secs, 7);
  EXPECT_EQ(l.mount_label, "system_u:object_r:container_file_t:s0");
  EXPECT_EQ(l.resources["memory"]["limit"], 1048576);
  EXPECT_EQ(l.seccomp["defaultAction"], "SCMP_ACT_ALLOW");
}

TEST(OciParse, MinimalConfigDefaults) {
  json j = minimal();
  j.erase("process");
  Spec s = parse_ok(j);
  EXPECT_FALSE(s.has_process);
  EXPECT_FALSE(s.root.readonly);
  EXPECT_TRUE(s.mounts.empty());
  EXPECT_TRUE(s.linux.namespaces.empty());
  EXPECT_TRUE(s.linux.resources.is_null());
  EXPECT_TRUE(s.linux.seccomp.is_null());

  s = parse_ok(minimal());
  EXPECT_TRUE(s.has_process);
  EXPECT_EQ(s.process.cwd, "/");
  EXPECT_FALSE(s.process.capabilities);
  EXPECT_FALSE(s.process.oom_score_adj);
  EXPECT_FALSE(s.process.user.umask);
}

TEST(OciParse, UnknownFieldsIgnored) {
  json j = minimal();
  j["someFutureField"] = {{"x", 1}};
  j["windows"] = {{"layerFolders", {"C:\\x"}}};
  j["process"]["user"] = {{"uid", 1}, {"username", "bob"}};
  j["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_IDLE"}};
  j["root"]["extra"] = 42;
  j["linux"] = {{"personality", {{"domain", "LINUX"}}},
                {"namespaces", {{{"type", "pid"}, {"future", true}}}},
                {"intelRdt", {{"closID", "x"}}}};
  Spec s = parse_ok(j);
  EXPECT_EQ(s.process.user.uid, 1u);
  EXPECT_EQ(s.linux.namespaces.size(), 1u);
}

TEST(OciParse, NullMeansAbsent) {
  json j = minimal();
  j["hostname"] = nullptr;
  j["mounts"] = nullptr;
  j["hooks"] = nullptr;
  j["annotations"] = nullptr;
  j["process"]["env"] = nullptr;
  j["process"]["cwd"] = nullptr;
  j["process"]["capabilities"] = {{"bounding", nullptr}};
  j["process"]["oomScoreAdj"] = nullptr;
  j["linux"] = {{"namespaces", nullptr}, {"resources", nullptr}, {"sysctl", nullptr}};
  Spec s = parse_ok(j);
  EXPECT_EQ(s.process.cwd, "/");
  EXPECT_TRUE(s.linux.resources.is_null());

  j = minimal();
  j["process"] = nullptr;
  j["linux"] = nullptr;
  EXPECT_FALSE(parse_ok(j).has_process);
}

TEST(OciParse, Versions) {
  for (const char* v : {"1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.0.0-rc5+dev", "1.3.0-rc.1"}) {
    json j = minimal();
    j["ociVersion"] = v;
    EXPECT_EQ(parse_ok(j).oci_version, v);
  }
  json j = minimal();
  j["ociVersion"] = "2.0.0";
  EXPECT_TRUE(
      FailsWith(j, "ociVersion: unsupported version \"2.0.0\" (veil supports runtime-spec 1.x)"));
  j["ociVersion"] = "0.5.0";
  EXPECT_TRUE(FailsWith(j, "ociVersion: unsupported version \"0.5.0\""));
  for (const char* bad : {"1.0", "", "v1.0.0", "1.0.0-", "1.0.0 ", "1.x.0"}) {
    j["ociVersion"] = bad;
    EXPECT_TRUE(FailsWith(j, "ociVersion: invalid version")) << bad;
  }
  j["ociVersion"] = 1;
  EXPECT_TRUE(FailsWith(j, "ociVersion: expected a string, got number"));
  j.erase("ociVersion");
  EXPECT_TRUE(FailsWith(j, "ociVersion: is required"));
}

TEST(OciParse, MalformedJson) {
  auto r = parse_spec(R"({"ociVersion": "1.0.0",)");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().msg.starts_with("config.json: malformed JSON: ")) << r.error().msg;
  EXPECT_TRUE(r.error().msg.ends_with("(at byte 24)")) << r.error().msg;
  EXPECT_EQ(r.error().msg.find("[json.exception"), std::string::npos) << r.error().msg;

  r = parse_spec("");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().msg.starts_with("config.json: malformed JSON: ")) << r.error().msg;
}

// Found by fuzz/oci_spec_fuzz.cpp: a number beyond double's range made nlohmann throw
// out_of_range (not parse_error), which escaped parse_spec and aborted veil.
TEST(OciParse, NumberOverflowIsMalformedJson) {
  for (const char* text : {R"({"ociVersion": "1.0.2", "process": {"args": 1E400}})",
                           R"({"linux": {"resources": {"memory": {"limit": -1e999}}}})"}) {
    auto r = parse_spec(text);
    ASSERT_FALSE(r) << text;
    EXPECT_TRUE(r.error().msg.starts_with("config.json: malformed JSON: number overflow"))
        << r.error().msg;
  }
}

TEST(OciParse, TopLevelMustBeObject) {
  EXPECT_TRUE(FailsWith(json::array({1}), "config.json: expected an object, got array"));
}

TEST(OciParse, Root) {
  json j = minimal();
  j.erase("root");
  EXPECT_TRUE(FailsWith(j, "root: is required"));
  j["root"] = "rootfs";
  EXPECT_TRUE(FailsWith(j, "root: expected an object, got string"));
  j["root"] = json::object();
  EXPECT_TRUE(FailsWith(j, "root.path: is required"));
  j["root"]["path"] = "";
  EXPECT_TRUE(FailsWith(j, "root.path: must not be empty"));
  j["root"]["path"] = 7;
  EXPECT_TRUE(FailsWith(j, "root.path: expected a string, got number"));
  j["root"] = {{"path", "rootfs"}, {"readonly", "yes"}};
  EXPECT_TRUE(FailsWith(j, "root.readonly: expected a boolean, got string"));
}

TEST(OciParse, ProcessArgs) {
  json j = minimal();
  j["process"].erase("args");
  EXPECT_TRUE(FailsWith(j, "process.args: must be a non-empty array of strings"));
  j["process"]["args"] = json::array();
  EXPECT_TRUE(FailsWith(j, "process.args: must be a non-empty array of strings"));
  j["process"]["args"] = "sh";
  EXPECT_TRUE(FailsWith(j, "process.args: must be a non-empty array of strings"));
  j["process"]["args"] = {"sh", 1};
  EXPECT_TRUE(FailsWith(j, "process.args[1]: expected a string, got number"));
  j["process"]["args"] = {"sh", std::string("a\0b", 3)};
  EXPECT_TRUE(FailsWith(j, "process.args[1]: must not contain a NUL byte"));
  j["process"] = "x";
  EXPECT_TRUE(FailsWith(j, "process: expected an object, got string"));
}

TEST(OciParse, ProcessCwd) {
  json j = minimal();
  j["process"]["cwd"] = "work";
  EXPECT_TRUE(FailsWith(j, "process.cwd: must be an absolute path, got \"work\""));
  j["process"]["cwd"] = "";
  EXPECT_TRUE(FailsWith(j, "process.cwd: must be an absolute path"));
}

TEST(OciParse, ProcessEnv) {
  json j = minimal();
  j["process"]["env"] = {"A=1", "NOEQUALS"};
  EXPECT_TRUE(FailsWith(j, "process.env[1]: expected \"KEY=value\", got \"NOEQUALS\""));
  j["process"]["env"] = {"=1"};
  EXPECT_TRUE(FailsWith(j, "process.env[0]: expected \"KEY=value\""));
  j["process"]["env"] = {true};
  EXPECT_TRUE(FailsWith(j, "process.env[0]: expected a string, got boolean"));
  j["process"]["env"] = "A=1";
  EXPECT_TRUE(FailsWith(j, "process.env: expected an array, got string"));
}

TEST(OciParse, ProcessUser) {
  json j = minimal();
  j["process"]["user"] = {{"uid", "0"}};
  EXPECT_TRUE(FailsWith(j, "process.user.uid: expected an unsigned 32-bit integer, got string"));
  j["process"]["user"] = {{"uid", -1}};
  EXPECT_TRUE(
      FailsWith(j, "process.user.uid: expected an unsigned 32-bit integer, got -1 (out of range)"));
  j["process"]["user"] = {{"gid", 4294967296}};
  EXPECT_TRUE(FailsWith(
      j, "process.user.gid: expected an unsigned 32-bit integer, got 4294967296 (out of range)"));
  j["process"]["user"] = {{"gid", 1.5}};
  EXPECT_TRUE(FailsWith(
      j, "process.user.gid: expected an unsigned 32-bit integer, got non-integer number 1.5"));
  j["process"]["user"] = {{"umask", "022"}};
  EXPECT_TRUE(FailsWith(j, "process.user.umask: expected an unsigned 32-bit integer"));
  j["process"]["user"] = {{"additionalGids", {1, -2}}};
  EXPECT_TRUE(FailsWith(j, "process.user.additionalGids[1]: expected an unsigned 32-bit integer"));
  j["process"]["user"] = {{"uid", 4294967295u}};
  EXPECT_EQ(parse_ok(j).process.user.uid, 4294967295u);
}

TEST(OciParse, ProcessCapabilities) {
  json j = minimal();
  j["process"]["capabilities"] = {{"bounding", {"CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_FOO"}}};
  EXPECT_TRUE(FailsWith(j, "process.capabilities.bounding[3]: unknown capability \"CAP_FOO\""));
  j["process"]["capabilities"] = {{"ambient", {"chown"}}};
  EXPECT_TRUE(FailsWith(j, "process.capabilities.ambient[0]: unknown capability \"chown\""));
  j["process"]["capabilities"] = {{"effective", {"12"}}};
  EXPECT_TRUE(FailsWith(j, "process.capabilities.effective[0]: unknown capability \"12\""));
  j["process"]["capabilities"] = {{"permitted", "CAP_KILL"}};
  EXPECT_TRUE(FailsWith(j, "process.capabilities.permitted: expected an array, got string"));
  j["process"]["capabilities"] = {{"inheritable", {1}}};
  EXPECT_TRUE(FailsWith(j, "process.capabilities.inheritable[0]: expected a string, got number"));
  j["process"]["capabilities"] = json::array();
  EXPECT_TRUE(FailsWith(j, "process.capabilities: expected an object, got array"));
}

TEST(OciParse, ProcessRlimits) {
  json j = minimal();
  auto rl = [](json type, json soft, json hard) {
    return json{{"type", type}, {"soft", soft}, {"hard", hard}};
  };
  j["process"]["rlimits"] = {rl("RLIMIT_NOFILE", 1, 2), rl("RLIMIT_FOO", 1, 2)};
  EXPECT_TRUE(FailsWith(j, "process.rlimits[1].type: unknown rlimit \"RLIMIT_FOO\""));
  j["process"]["rlimits"] = {rl("RLIMIT_NOFILE", 1, 2), rl("RLIMIT_NPROC", 1, 2),
                             rl("RLIMIT_NOFILE", 3, 4)};
  EXPECT_TRUE(FailsWith(j, "process.rlimits[2].type: duplicate rlimit \"RLIMIT_NOFILE\""));
  j["process"]["rlimits"] = {rl("RLIMIT_NOFILE", 2048, 1024)};
  EXPECT_TRUE(FailsWith(j, "process.rlimits[0].soft: soft limit 2048 exceeds hard limit 1024"));
  j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 1}}};
  EXPECT_TRUE(FailsWith(j, "process.rlimits[0].hard: is required"));
  j["process"]["rlimits"] = {rl("RLIMIT_NOFILE", -1, 1)};
  EXPECT_TRUE(FailsWith(j, "process.rlimits[0].soft: expected an unsigned 64-bit integer"));

  const char* all[] = {"RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",        "RLIMIT_DATA",
                       "RLIMIT_FSIZE",  "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
                       "RLIMIT_NICE",   "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
                       "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"};
  j["process"]["rlimits"] = json::array();
  for (const char* t : all) j["process"]["rlimits"].push_back(rl(t, 1, 1));
  Spec s = parse_ok(j);
  ASSERT_EQ(s.process.rlimits.size(), 16u);
  EXPECT_EQ(s.process.rlimits[15].resource, RLIMIT_STACK);
  EXPECT_EQ(s.process.rlimits[7].resource, RLIMIT_MSGQUEUE);
}

TEST(OciParse, ProcessOomScoreAdj) {
  json j = minimal();
  j["process"]["oomScoreAdj"] = 1001;
  EXPECT_TRUE(FailsWith(j, "process.oomScoreAdj: must be between -1000 and 1000, got 1001"));
  j["process"]["oomScoreAdj"] = -1001;
  EXPECT_TRUE(FailsWith(j, "process.oomScoreAdj: must be between -1000 and 1000, got -1001"));
  j["process"]["oomScoreAdj"] = "5";
  EXPECT_TRUE(FailsWith(j, "process.oomScoreAdj: expected a 32-bit integer, got string"));
  j["process"]["oomScoreAdj"] = -1000;
  EXPECT_EQ(parse_ok(j).process.oom_score_adj, -1000);
}

TEST(OciParse, ProcessScalars) {
  json j = minimal();
  j["process"]["consoleSize"] = {{"height", 10}};
  EXPECT_TRUE(FailsWith(j, "process.consoleSize.width: is required"));
  j["process"]["consoleSize"] = {{"height", -1}, {"width", 1}};
  EXPECT_TRUE(FailsWith(j, "process.consoleSize.height: expected an unsigned 32-bit integer"));
  j = minimal();
  j["process"]["terminal"] = "true";
  EXPECT_TRUE(FailsWith(j, "process.terminal: expected a boolean, got string"));
  j = minimal();
  j["process"]["noNewPrivileges"] = 1;
  EXPECT_TRUE(FailsWith(j, "process.noNewPrivileges: expected a boolean, got number"));
  j = minimal();
  j["process"]["apparmorProfile"] = json::object();
  EXPECT_TRUE(FailsWith(j, "process.apparmorProfile: expected a string, got object"));
  j = minimal();
  j["process"]["selinuxLabel"] = false;
  EXPECT_TRUE(FailsWith(j, "process.selinuxLabel: expected a string, got boolean"));
}

TEST(OciParse, HostnameAndDomainname) {
  json j = minimal();
  j["hostname"] = 5;
  EXPECT_TRUE(FailsWith(j, "hostname: expected a string, got number"));
  j["hostname"] = "box";
  EXPECT_TRUE(FailsWith(j, "hostname: requires a UTS namespace"));
  j["linux"] = {{"namespaces", {{{"type", "pid"}}}}};
  EXPECT_TRUE(FailsWith(j, "hostname: requires a UTS namespace"));
  j["linux"] = {{"namespaces", {{{"type", "uts"}, {"path", "/proc/1/ns/uts"}}}}};
  EXPECT_EQ(parse_ok(j).hostname, "box");  // joining a pod's namespace, as CRI runtimes do
  j["linux"] = {{"namespaces", {{{"type", "uts"}}}}};
  EXPECT_EQ(parse_ok(j).hostname, "box");
  j["domainname"] = json::array();
  EXPECT_TRUE(FailsWith(j, "domainname: expected a string, got array"));
  j.erase("linux");
  j["hostname"] = "";
  j["domainname"] = "example.org";
  EXPECT_TRUE(FailsWith(j, "domainname: requires a UTS namespace"));
}

TEST(OciParse, Mounts) {
  json j = minimal();
  j["mounts"] = {{{"destination", "/proc"}}, {{"type", "tmpfs"}}};
  EXPECT_TRUE(FailsWith(j, "mounts[1].destination: is required"));
  j["mounts"] = {{{"destination", "tmp"}}};
  EXPECT_TRUE(FailsWith(j, "mounts[0].destination: must be an absolute path, got \"tmp\""));
  j["mounts"] = {{{"destination", "/tmp"}, {"options", {"ro", 3}}}};
  EXPECT_TRUE(FailsWith(j, "mounts[0].options[1]: expected a string, got number"));
  j["mounts"] = {{{"destination", "/tmp"}, {"source", 3}}};
  EXPECT_TRUE(FailsWith(j, "mounts[0].source: expected a string, got number"));
  j["mounts"] = {{{"destination", "/tmp"}, {"type", false}}};
  EXPECT_TRUE(FailsWith(j, "mounts[0].type: expected a string, got boolean"));
  j["mounts"] = {"/tmp"};
  EXPECT_TRUE(FailsWith(j, "mounts[0]: expected an object, got string"));
  j["mounts"] = json::object();
  EXPECT_TRUE(FailsWith(j, "mounts: expected an array, got object"));
}

TEST(OciParse, Hooks) {
  json j = minimal();
  j["hooks"] = {{"prestart", {{{"path", "/bin/a"}}, {{"path", "bin/b"}}}}};
  EXPECT_TRUE(FailsWith(j, "hooks.prestart[1].path: must be an absolute path, got \"bin/b\""));
  j["hooks"] = {{"poststop", {{{"args", {"x"}}}}}};
  EXPECT_TRUE(FailsWith(j, "hooks.poststop[0].path: is required"));
  j["hooks"] = {{"createRuntime", {{{"path", "/a"}, {"timeout", 0}}}}};
  EXPECT_TRUE(
      FailsWith(j, "hooks.createRuntime[0].timeout: must be a positive number of seconds, got 0"));
  j["hooks"] = {{"createContainer", {{{"path", "/a"}, {"env", {1}}}}}};
  EXPECT_TRUE(FailsWith(j, "hooks.createContainer[0].env[0]: expected a string, got number"));
  j["hooks"] = {{"startContainer", {{{"path", "/a"}, {"args", "x"}}}}};
  EXPECT_TRUE(FailsWith(j, "hooks.startContainer[0].args: expected an array, got string"));
  j["hooks"] = {{"poststart", {{"path", "/a"}}}};
  EXPECT_TRUE(FailsWith(j, "hooks.poststart: expected an array, got object"));
  j["hooks"] = "x";
  EXPECT_TRUE(FailsWith(j, "hooks: expected an object, got string"));
}

TEST(OciParse, Annotations) {
  json j = minimal();
  j["annotations"] = {{"plain", "ok"}, {"org.example.count", 3}};
  EXPECT_TRUE(FailsWith(j, "annotations[\"org.example.count\"]: expected a string, got number"));
  j["annotations"] = {{"key", nullptr}};
  EXPECT_TRUE(FailsWith(j, "annotations.key: expected a string, got null"));
  j["annotations"] = json::array();
  EXPECT_TRUE(FailsWith(j, "annotations: expected an object, got array"));
}

TEST(OciParse, Namespaces) {
  json j = minimal();
  j["linux"]["namespaces"] = {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "foo"}}};
  EXPECT_TRUE(FailsWith(j, "linux.namespaces[2].type: unknown namespace \"foo\""));
  j["linux"]["namespaces"] = {
      {{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "pid"}}};
  EXPECT_TRUE(FailsWith(j, "linux.namespaces[3].type: duplicate namespace \"pid\""));
  j["linux"]["namespaces"] = {{{"type", "network"}, {"path", "run/netns/x"}}};
  EXPECT_TRUE(
      FailsWith(j, "linux.namespaces[0].path: must be an absolute path, got \"run/netns/x\""));
  j["linux"]["namespaces"] = {{{"path", "/proc/1/ns/net"}}};
  EXPECT_TRUE(FailsWith(j, "linux.namespaces[0].type: is required"));
  j["linux"]["namespaces"] = {{{"type", "network"}, {"path", ""}}};
  EXPECT_TRUE(parse_ok(j).linux.namespaces.at(0).path.empty());
  j["linux"] = {{"namespaces", {"pid"}}};
  EXPECT_TRUE(FailsWith(j, "linux.namespaces[0]: expected an object, got string"));
  j["linux"] = "x";
  EXPECT_TRUE(FailsWith(j, "linux: expected an object, got string"));
}

TEST(OciParse, IdMappings) {
  json j = minimal();
  json map = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
  j["linux"]["namespaces"] = {{{"type", "user"}}};
  EXPECT_TRUE(FailsWith(j, "linux.uidMappings: required when creating a new user namespace"));
  j["linux"]["uidMappings"] = map;
  EXPECT_TRUE(FailsWith(j, "linux.gidMappings: required when creating a new user namespace"));
  j["linux"]["gidMappings"] = map;
  EXPECT_EQ(parse_ok(j).linux.gid_mappings.at(0).host_id, 1000u);

  j["linux"]["namespaces"] = {{{"type", "pid"}}};
  EXPECT_TRUE(FailsWith(j, "linux.uidMappings: requires a user namespace"));

  // Joining an existing user namespace: its mappings are already set.
  j["linux"] = {{"namespaces", {{{"type", "user"}, {"path", "/proc/1/ns/user"}}}}};
  parse_ok(j);

  j["linux"] = {{"namespaces", {{{"type", "user"}}}}, {"gidMappings", map}};
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 0}}};
  EXPECT_TRUE(FailsWith(j, "linux.uidMappings[0].size: must be greater than 0"));
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"size", 1}}};
  EXPECT_TRUE(FailsWith(j, "linux.uidMappings[0].hostID: is required"));
  j["linux"]["uidMappings"] = {{{"containerID", -1}, {"hostID", 0}, {"size", 1}}};
  EXPECT_TRUE(
      FailsWith(j, "linux.uidMappings[0].containerID: expected an unsigned 32-bit integer"));
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 4294967295u}, {"size", 2}}};
  EXPECT_TRUE(FailsWith(j, "linux.uidMappings[0].size: range overflows 32-bit ids"));
}

TEST(OciParse, Devices) {
  json j = minimal();
  auto dev = [](json path, json type) {
    return json{{"path", path}, {"type", type}, {"major", 1}, {"minor", 3}};
  };
  j["linux"]["devices"] = {dev("/dev/null", "c"), dev("/dev/x", "z")};
  EXPECT_TRUE(FailsWith(j, "linux.devices[1].type: unknown device type \"z\""));
  j["linux"]["devices"] = {dev("dev/null", "c")};
  EXPECT_TRUE(FailsWith(j, "linux.devices[0].path: must be an absolute path"));
  j["linux"]["devices"] = {dev("/dev/null", nullptr)};
  EXPECT_TRUE(FailsWith(j, "linux.devices[0].type: expected a string, got null"));
  for (const char* t : {"c", "b", "u"}) {
    json d = dev("/dev/null", t);
    d.erase("minor");
    j["linux"]["devices"] = {d};
    EXPECT_TRUE(FailsWith(j, "linux.devices[0].minor: is required")) << t;
  }
  json d = dev("/dev/null", "c");
  d["major"] = -1;
  j["linux"]["devices"] = {d};
  EXPECT_TRUE(FailsWith(j, "linux.devices[0].major: must not be negative, got -1"));
  d = dev("/dev/null", "c");
  d["fileMode"] = "0666";
  j["linux"]["devices"] = {d};
  EXPECT_TRUE(FailsWith(j, "linux.devices[0].fileMode: expected an unsigned 32-bit integer"));
  d = dev("/dev/null", "c");
  d["gid"] = -5;
  j["linux"]["devices"] = {d};
  EXPECT_TRUE(FailsWith(j, "linux.devices[0].gid: expected an unsigned 32-bit integer"));
  j["linux"]["devices"] = {{{"path", "/dev/fifo"}, {"type", "p"}}};
  EXPECT_EQ(parse_ok(j).linux.devices.at(0).type, 'p');
}

TEST(OciParse, LinuxScalarsAndMaps) {
  json j = minimal();
  j["linux"] = {{"cgroupsPath", 1}};
  EXPECT_TRUE(FailsWith(j, "linux.cgroupsPath: expected a string, got number"));
  j["linux"] = {{"sysctl", {{"net.ipv4.ip_forward", 1}}}};
  EXPECT_TRUE(FailsWith(j, "linux.sysctl[\"net.ipv4.ip_forward\"]: expected a string, got number"));
  j["linux"] = {{"mountLabel", true}};
  EXPECT_TRUE(FailsWith(j, "linux.mountLabel: expected a string, got boolean"));
  j["linux"] = {{"resources", json::array()}};
  EXPECT_TRUE(FailsWith(j, "linux.resources: expected an object, got array"));
  j["linux"] = {{"seccomp", "x"}};
  EXPECT_TRUE(FailsWith(j, "linux.seccomp: expected an object, got string"));
}

TEST(OciParse, RootfsPropagation) {
  json j = minimal();
  for (const char* p : {"", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                        "unbindable", "runbindable"}) {
    j["linux"] = {{"rootfsPropagation", p}};
    EXPECT_EQ(parse_ok(j).linux.rootfs_propagation, p);
  }
  j["linux"] = {{"rootfsPropagation", "recursive"}};
  EXPECT_TRUE(FailsWith(j, "linux.rootfsPropagation: unknown propagation \"recursive\""));
}

TEST(OciParse, MaskedAndReadonlyPaths) {
  json j = minimal();
  j["linux"] = {{"maskedPaths", {"/proc/kcore", "proc/keys"}}};
  EXPECT_TRUE(FailsWith(j, "linux.maskedPaths[1]: must be an absolute path, got \"proc/keys\""));
  j["linux"] = {{"readonlyPaths", {"/proc/sys", 3}}};
  EXPECT_TRUE(FailsWith(j, "linux.readonlyPaths[1]: expected a string, got number"));
  j["linux"] = {{"readonlyPaths", "/proc/sys"}};
  EXPECT_TRUE(FailsWith(j, "linux.readonlyPaths: expected an array, got string"));
}

TEST(OciParse, TimeOffsets) {
  json j = minimal();
  j["linux"] = {{"namespaces", {{{"type", "time"}}}},
                {"timeOffsets", {{"monotonic", {{"secs", 1}}}, {"realtime", {{"secs", 1}}}}}};
  EXPECT_TRUE(FailsWith(j, "linux.timeOffsets.realtime: unknown clock \"realtime\""));
  j["linux"]["timeOffsets"] = {{"boottime", {{"nanosecs", 1000000000}}}};
  EXPECT_TRUE(FailsWith(
      j, "linux.timeOffsets.boottime.nanosecs: must be less than 1000000000, got 1000000000"));
  j["linux"]["timeOffsets"] = {{"boottime", {{"nanosecs", -1}}}};
  EXPECT_TRUE(
      FailsWith(j, "linux.timeOffsets.boottime.nanosecs: expected an unsigned 32-bit integer"));
  j["linux"]["timeOffsets"] = {{"boottime", {{"secs", "1"}}}};
  EXPECT_TRUE(
      FailsWith(j, "linux.timeOffsets.boottime.secs: expected a 64-bit integer, got string"));
  j["linux"]["timeOffsets"] = {{"boottime", 5}};
  EXPECT_TRUE(FailsWith(j, "linux.timeOffsets.boottime: expected an object, got number"));
  j["linux"]["timeOffsets"] = {{"monotonic", {{"secs", -5}, {"nanosecs", 999999999}}}};
  EXPECT_EQ(parse_ok(j).linux.time_offsets.at("monotonic").nanosecs, 999999999u);

  j["linux"]["namespaces"] = {{{"type", "pid"}}};
  EXPECT_TRUE(FailsWith(j, "linux.timeOffsets: requires a new time namespace"));
  j["linux"]["namespaces"] = {{{"type", "time"}, {"path", "/proc/1/ns/time"}}};
  EXPECT_TRUE(
      FailsWith(j, "linux.timeOffsets: cannot be set when joining an existing time namespace"));
}

TEST(OciParse, NamespaceHelpers) {
  struct {
    NsType t;
    const char* name;
    int flag;
  } cases[] = {
      {NsType::pid, "pid", CLONE_NEWPID},          {NsType::network, "network", CLONE_NEWNET},
      {NsType::mount, "mount", CLONE_NEWNS},       {NsType::ipc, "ipc", CLONE_NEWIPC},
      {NsType::uts, "uts", CLONE_NEWUTS},          {NsType::user, "user", CLONE_NEWUSER},
      {NsType::cgroup, "cgroup", CLONE_NEWCGROUP}, {NsType::time, "time", 0x80}};
  for (const auto& c : cases) {
    EXPECT_STREQ(ns_type_name(c.t), c.name);
    EXPECT_EQ(ns_type_from_name(c.name), c.t);
    EXPECT_EQ(ns_clone_flag(c.t), c.flag) << c.name;
  }
  EXPECT_FALSE(ns_type_from_name("net"));
  EXPECT_FALSE(ns_type_from_name(""));
}

TEST(OciParse, LoadSpec) {
  char tmpl[] = "/tmp/veil-oci-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto missing = load_spec(dir);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().msg.find("config.json"), std::string::npos) << missing.error().msg;
  EXPECT_EQ(missing.error().err, ENOENT);

  ASSERT_TRUE(write_file_atomic(dir + "/config.json", minimal().dump()));
  auto r = load_spec(dir);
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->process.args.at(0), "sh");

  ASSERT_TRUE(write_file_atomic(dir + "/config.json", "{"));
  r = load_spec(dir);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().msg.starts_with("config.json: malformed JSON")) << r.error().msg;
  ASSERT_TRUE(remove_all(dir));
}
