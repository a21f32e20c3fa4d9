// Device rules: parsing with JSON-path errors, the reference semantics, and the BPF program
// generated from them — run through a small interpreter of the instructions it uses (so every
// rule set is checked against the reference on every device and access), loaded into the kernel
// (the verifier must accept it), and attached to a real cgroup v2 directory where the kernel
// enforces it on a child process.
#include "linux/cgroup_devices.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/file.hpp"
#include "linux/cgroup_devices_bpf.hpp"
#include "linux/cgroups.hpp"

namespace veil::cgroups {
namespace {

using nlohmann::json;

DeviceRule rule(bool allow, char type, int64_t major, int64_t minor, uint8_t access) {
  return DeviceRule{allow, type, major, minor, access};
}

// Executes the instruction subset build_program emits on a bpf_cgroup_dev_ctx.
// Returns -1 for an instruction it does not know (the test then fails).
int64_t interpret(const std::vector<bpf_insn>& prog, uint32_t access_type, uint32_t major,
                  uint32_t minor) {
  uint32_t ctx[3] = {access_type, major, minor};
  constexpr uint64_t kCtx = 0xc7c7c7c7c7c7c7c7;  // stands for the context pointer
  uint64_t r[11] = {};
  r[1] = kCtx;
  size_t pc = 0;
  for (int steps = 0; steps < 100000 && pc < prog.size(); ++steps) {
    const bpf_insn& i = prog[pc++];
    uint64_t imm64 = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    switch (i.code) {
      case BPF_LDX | BPF_W | BPF_MEM:  // only from the context pointer
        if (r[i.src_reg] != kCtx || i.off % 4 || i.off < 0 || i.off > 8) return -1;
        r[i.dst_reg] = ctx[i.off / 4];
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        r[i.dst_reg] = static_cast<uint32_t>(r[i.dst_reg]) & static_cast<uint32_t>(i.imm);
        break;
      case BPF_ALU | BPF_RSH | BPF_K:
        r[i.dst_reg] = static_cast<uint32_t>(r[i.dst_reg]) >> i.imm;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_X:
        r[i.dst_reg] = r[i.src_reg];
        break;
      case BPF_ALU64 | BPF_MOV | BPF_K:
        r[i.dst_reg] = imm64;
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
        if (r[i.dst_reg] != imm64) pc += i.off;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        if (r[i.dst_reg] == imm64) pc += i.off;
        break;
      case BPF_JMP | BPF_EXIT:
        return static_cast<int64_t>(r[0]);
      default:
        return -1;
    }
  }
  return -1;  // ran off the end or looped
}

uint32_t access_type(char type, uint8_t access) {
  return (static_cast<uint32_t>(access) << 16) |
         (type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
}

// Checks the program for `rules` against device_rules_allow on the devices the rules mention
// (and their neighbours) for every type and access combination.
void expect_program_matches(const std::vector<DeviceRule>& rules) {
  auto compact = compact_device_rules(rules);
  auto prog = bpf_devices::build_program(compact);
  std::vector<uint32_t> majors = {0, 1, 5, 10, 136, 4095}, minors = {0, 1, 3, 200, 1048575};
  for (const auto& r : rules) {
    if (r.major >= 0) majors.push_back(static_cast<uint32_t>(r.major) + 1);
    if (r.minor >= 0) minors.push_back(static_cast<uint32_t>(r.minor) + 1);
    if (r.major >= 0) majors.push_back(static_cast<uint32_t>(r.major));
    if (r.minor >= 0) minors.push_back(static_cast<uint32_t>(r.minor));
  }
  for (char type : {'c', 'b'})
    for (uint32_t ma : majors)
      for (uint32_t mi : minors)
        for (uint8_t acc = 1; acc <= kDevAll; ++acc) {
          bool want = device_rules_allow(rules, type, ma, mi, acc);
          ASSERT_EQ(want, device_rules_allow(compact, type, ma, mi, acc))
              << "compaction changed the verdict for " << type << " " << ma << ":" << mi;
          int64_t got = interpret(prog, access_type(type, acc), ma, mi);
          ASSERT_EQ(got, want ? 1 : 0)
              << "device " << type << " " << ma << ":" << mi << " access " << int(acc)
              << "\nrules: " << device_rules_json(rules).dump();
        }
}

TEST(DeviceRules, ParsesOciRulesWithWildcards) {
  auto r = parse_device_rules(json::parse(R"([
    {"allow": false, "access": "rwm"},
    {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
    {"allow": true, "type": "b", "major": 8, "minor": null, "access": "r"},
    {"allow": true, "type": "c", "major": -1, "minor": 5}])"),
                              "linux.resources.devices");
  ASSERT_TRUE(r.has_value()) << r.error().msg;
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0], rule(false, 'a', -1, -1, kDevAll));
  EXPECT_EQ((*r)[1], rule(true, 'c', 10, 200, kDevRead | kDevWrite));
  EXPECT_EQ((*r)[2], rule(true, 'b', 8, -1, kDevRead));
  EXPECT_EQ((*r)[3], rule(true, 'c', -1, 5, kDevAll));  // no access: rwm
  EXPECT_EQ(v1_rule_text((*r)[0]), "a");
  EXPECT_EQ(v1_rule_text((*r)[1]), "c 10:200 rw");
  EXPECT_EQ(v1_rule_text((*r)[2]), "b 8:* r");
  // Round trip through the state file form.
  auto back = parse_device_rules(device_rules_json(*r), "x");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, *r);
}

TEST(DeviceRules, BadRulesNameTheJsonPath) {
  struct Case {
    const char* json;
    const char* path;
  } cases[] = {
      {R"([{"allow": true, "type": "x"}])", "devices[0].type"},
      {R"([{"allow": true}, {"allow": true, "access": "rwx"}])", "devices[1].access"},
      {R"([{"allow": true, "type": "c", "major": 4096}])", "devices[0].major"},
      {R"([{"allow": true, "type": "c", "minor": 1048576}])", "devices[0].minor"},
      {R"([{"allow": true, "type": "c", "major": "10"}])", "devices[0].major"},
      {R"([{"type": "c"}])", "devices[0].allow"},
      {R"({"allow": true})", "devices: expected an array"},
  };
  for (const auto& c : cases) {
    auto r = parse_device_rules(json::parse(c.json), "devices");
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_NE(r.error().msg.find(c.path), std::string::npos) << r.error().msg;
  }
}

TEST(DeviceRules, LastMatchingRuleDecides) {
  std::vector<DeviceRule> rules = {rule(false, 'a', -1, -1, kDevAll),
                                   rule(true, 'c', 1, 3, kDevAll),
                                   rule(false, 'c', 1, 3, kDevWrite)};
  EXPECT_TRUE(device_rules_allow(rules, 'c', 1, 3, kDevRead));
  EXPECT_FALSE(device_rules_allow(rules, 'c', 1, 3, kDevWrite));
  EXPECT_FALSE(device_rules_allow(rules, 'c', 1, 3, kDevRead | kDevWrite));  // any denied bit
  EXPECT_FALSE(device_rules_allow(rules, 'c', 1, 5, kDevRead));              // default: deny
  EXPECT_FALSE(device_rules_allow(rules, 'b', 1, 3, kDevRead));              // other type
  // An allow rule must cover every requested bit.
  std::vector<DeviceRule> partial = {rule(false, 'a', -1, -1, kDevAll),
                                     rule(true, 'c', 10, 200, kDevRead)};
  EXPECT_TRUE(device_rules_allow(partial, 'c', 10, 200, kDevRead));
  EXPECT_FALSE(device_rules_allow(partial, 'c', 10, 200, kDevRead | kDevWrite));
  // Without an "a" rule the default is allow; an "a" allow resets a deny list.
  EXPECT_TRUE(device_rules_allow({rule(false, 'c', 1, 3, kDevAll)}, 'c', 1, 5, kDevRead));
  EXPECT_FALSE(device_rules_allow({rule(false, 'c', 1, 3, kDevAll)}, 'c', 1, 3, kDevRead));
  EXPECT_TRUE(device_rules_allow({rule(false, 'c', 1, 3, kDevAll), rule(true, 'a', -1, -1, 7)}, 'c',
                                 1, 3, kDevRead));
}

TEST(DeviceRules, CompactionKeepsTheVerdictAndDropsDeadRules) {
  std::vector<DeviceRule> rules = {rule(true, 'c', 1, 3, kDevAll), rule(false, 'a', -1, -1, 7),
                                   rule(true, 'c', 1, 5, kDevAll), rule(true, 'c', 1, 3, kDevAll),
                                   rule(true, 'c', 1, 5, kDevAll)};
  auto c = compact_device_rules(rules);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].type, 'a');
  EXPECT_EQ(c[1], rule(true, 'c', 1, 3, kDevAll));
  EXPECT_EQ(c[2], rule(true, 'c', 1, 5, kDevAll));
  expect_program_matches(rules);
}

TEST(DeviceRulesBpf, ProgramImplementsTheRulesForEveryDeviceAndAccess) {
  std::vector<DeviceRule> standard = standard_device_rules();
  std::vector<DeviceRule> runc_default = {rule(false, 'a', -1, -1, kDevAll)};
  runc_default.insert(runc_default.end(), standard.begin(), standard.end());
  expect_program_matches({});
  expect_program_matches(runc_default);
  expect_program_matches({rule(false, 'a', -1, -1, 7), rule(true, 'c', 10, 200, kDevRead),
                          rule(true, 'b', 8, -1, kDevRead | kDevMknod),
                          rule(false, 'b', 8, 0, kDevMknod), rule(true, 'c', -1, 9, kDevWrite)});
  expect_program_matches({rule(true, 'a', -1, -1, 7), rule(false, 'c', 1, 3, kDevWrite)});
  // Random rule lists: the generated program and the reference agree everywhere.
  std::mt19937 rng(42);
  for (int n = 0; n < 150; ++n) {
    std::vector<DeviceRule> rules;
    int count = static_cast<int>(rng() % 8);
    for (int i = 0; i < count; ++i) {
      DeviceRule r;
      r.allow = rng() % 2;
      int t = static_cast<int>(rng() % 7);
      r.type = t == 0 ? 'a' : (t < 4 ? 'c' : 'b');
      r.major = rng() % 3 == 0 ? -1 : static_cast<int64_t>(rng() % 3);
      r.minor = rng() % 3 == 0 ? -1 : static_cast<int64_t>(rng() % 3);
      r.access = static_cast<uint8_t>(1 + rng() % 7);
      if (r.type == 'a') r = rule(r.allow, 'a', -1, -1, kDevAll);
      rules.push_back(r);
    }
    expect_program_matches(rules);
    if (HasFatalFailure()) return;
  }
}

bool can_load_bpf(std::string* why) {
  if (::geteuid() != 0) {
    *why = "needs root to load BPF programs";
    return false;
  }
  auto fd = bpf_devices::load(bpf_devices::build_program({}));
  if (!fd && fd.error().err == EPERM) {
    *why = "this kernel does not let us load cgroup device programs: " + fd.error().str();
    return false;
  }
  return true;
}

TEST(DeviceRulesBpf, VerifierAcceptsThePrograms) {
  std::string why;
  if (!can_load_bpf(&why)) GTEST_SKIP() << why;
  std::vector<DeviceRule> big = {rule(false, 'a', -1, -1, kDevAll)};
  for (int i = 0; i < 1000; ++i)
    big.push_back(
        rule(i % 3 != 0, i % 2 ? 'c' : 'b', i % 4095, i, static_cast<uint8_t>(1 + i % 7)));
  for (const auto& rules :
       {std::vector<DeviceRule>{}, standard_device_rules(), big,
        std::vector<DeviceRule>{rule(true, 'a', -1, -1, 7), rule(false, 'c', 1, 3, kDevWrite)}}) {
    auto prog = bpf_devices::build_program(rules);
    auto fd = bpf_devices::load(prog);
    EXPECT_TRUE(fd.has_value()) << (fd ? "" : fd.error().str());
  }
  // A broken program is refused with the verifier's explanation.
  std::vector<bpf_insn> broken = {bpf_devices::build_program({}).back()};  // exit without r0
  auto fd = bpf_devices::load(broken);
  ASSERT_FALSE(fd.has_value());
  EXPECT_NE(fd.error().msg.find("verifier says"), std::string::npos) << fd.error().msg;
  EXPECT_NE(fd.error().msg.find("R0"), std::string::npos) << fd.error().msg;
}

// A scratch cgroup in the cgroup v2 hierarchy, removed at the end.
class V2Cgroup {
 public:
  V2Cgroup() {
    auto layout = probe();
    if (!layout) return;
    for (const auto& h : layout->hierarchies)
      if (h.v2) dir_ = h.mountpoint + "/veil-unit-devices-" + std::to_string(::getpid());
    if (!dir_.empty() && ::mkdir(dir_.c_str(), 0755) != 0) dir_.clear();
  }
  ~V2Cgroup() {
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// Forks a child into the cgroup that opens each path read-only; returns the errno of each open
// (0 for success).
std::vector<int> open_in_cgroup(const std::string& dir, const std::vector<std::string>& paths) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    std::string self = std::to_string(::getpid());
    int cg = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY);
    if (cg < 0 || ::write(cg, self.data(), self.size()) < 0) _exit(100);
    for (const auto& p : paths) {
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      int e = fd >= 0 ? 0 : errno;
      if (fd >= 0) ::close(fd);
      if (::write(pipefd[1], &e, sizeof e) != sizeof e) _exit(101);
    }
    _exit(0);
  }
  ::close(pipefd[1]);
  std::vector<int> out;
  int e;
  while (::read(pipefd[0], &e, sizeof e) == sizeof e) out.push_back(e);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
  return out;
}

TEST(DeviceRulesBpf, KernelEnforcesAndInstallReplacesTheProgram) {
  std::string why;
  if (!can_load_bpf(&why)) GTEST_SKIP() << why;
  V2Cgroup cg;
  if (cg.dir().empty()) GTEST_SKIP() << "no cgroup v2 hierarchy to attach a device program to";
  // Deny everything but /dev/null (c 1:3).
  std::vector<DeviceRule> only_null = {rule(false, 'a', -1, -1, kDevAll),
                                       rule(true, 'c', 1, 3, kDevAll)};
  auto r = bpf_devices::install(cg.dir(), only_null);
  ASSERT_TRUE(r.has_value()) << r.error().str();
  auto ids = bpf_devices::attached(cg.dir());
  ASSERT_TRUE(ids.has_value()) << ids.error().str();
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ(open_in_cgroup(cg.dir(), {"/dev/null", "/dev/zero"}), (std::vector<int>{0, EPERM}));
  // This process is not in the cgroup: not affected.
  int fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  ::close(fd);

  // Replacing: exactly one program stays attached, and the new rules hold.
  std::vector<DeviceRule> only_zero = {rule(false, 'a', -1, -1, kDevAll),
                                       rule(true, 'c', 1, 5, kDevRead)};
  r = bpf_devices::install(cg.dir(), only_zero);
  ASSERT_TRUE(r.has_value()) << r.error().str();
  auto ids2 = bpf_devices::attached(cg.dir());
  ASSERT_TRUE(ids2.has_value());
  ASSERT_EQ(ids2->size(), 1u);
  EXPECT_NE((*ids2)[0], (*ids)[0]);
  EXPECT_EQ(open_in_cgroup(cg.dir(), {"/dev/null", "/dev/zero"}), (std::vector<int>{EPERM, 0}));
}

TEST(DeviceRulesBpf, BackendIsChosenByProbingAndCanBeForced) {
  Layout v1_only, v2_only, hybrid;
  Hierarchy dev{"/sys/fs/cgroup/devices", "devices", false, "/"};
  Hierarchy uni{"/sys/fs/cgroup", "cgroup", true, "/"};
  v1_only.hierarchies = {dev};
  v2_only.hierarchies = {uni};
  hybrid.hierarchies = {dev, uni};
  ::unsetenv("VEIL_CGROUP_DEVICES");
  EXPECT_EQ(choose_device_backend(v1_only).value(), DeviceBackend::v1);
  EXPECT_EQ(choose_device_backend(v2_only).value(), DeviceBackend::bpf);
  EXPECT_EQ(choose_device_backend(hybrid).value(), DeviceBackend::v1);
  ::setenv("VEIL_CGROUP_DEVICES", "bpf", 1);
  EXPECT_EQ(choose_device_backend(hybrid).value(), DeviceBackend::bpf);
  EXPECT_FALSE(choose_device_backend(v1_only).has_value());
  ::setenv("VEIL_CGROUP_DEVICES", "ebpf", 1);
  auto bad = choose_device_backend(hybrid);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().msg.find("must be v1 or bpf"), std::string::npos);
  ::unsetenv("VEIL_CGROUP_DEVICES");
}

}  // namespace
}  // namespace veil::cgroups
