#include "linux/cgroup_devices_bpf.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace veil::cgroups::bpf_devices {
namespace {

// Registers: r6 = the context (bpf_cgroup_dev_ctx), r1 = scratch, r0 = return value.
//
// Every check loads its field from the context afresh into r1 instead of keeping the fields in
// registers: a compare teaches the verifier the register's value on one branch, and values kept
// across rules multiply the states it must explore (1000 rules then exceed its 1M-instruction
// budget). r1 is written before it is read in every rule, so it is dead between rules and the
// verifier prunes each rule's entry state to one.
constexpr uint8_t R0 = 0, R1 = 1, R6 = 6;

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn load_ctx_u32(int16_t off) {
  return insn(BPF_LDX | BPF_W | BPF_MEM, R1, R6, off, 0);
}
bpf_insn alu32_k(uint8_t op, uint8_t dst, int32_t imm) {
  return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn mov64_x(uint8_t dst, uint8_t src) {
  return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn mov64_k(uint8_t dst, int32_t imm) {
  return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
// A conditional jump; its offset is filled in when the rule's block is complete.
bpf_insn jmp_k(uint8_t op, uint8_t dst, int32_t imm) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn exit_insn() {
  return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

int bpf(int cmd, union bpf_attr* attr) {
  return static_cast<int>(::syscall(SYS_bpf, cmd, attr, sizeof(*attr)));
}

uint64_t ptr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// One rule: jumps past its block when it does not match, else returns its verdict.
void append_rule(std::vector<bpf_insn>& prog, const DeviceRule& r) {
  constexpr int16_t kAccessType = offsetof(bpf_cgroup_dev_ctx, access_type);
  std::vector<bpf_insn> block;
  std::vector<size_t> skips;  // indexes of the "does not match" jumps
  auto skip_unless = [&](uint8_t op, int32_t imm) {
    skips.push_back(block.size());
    block.push_back(jmp_k(op, R1, imm));
  };
  // access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
  block.push_back(load_ctx_u32(kAccessType));
  block.push_back(alu32_k(BPF_AND, R1, 0xffff));
  skip_unless(BPF_JNE, r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
  if (r.access != kDevAll) {  // a request always has some bit of rwm
    block.push_back(load_ctx_u32(kAccessType));
    block.push_back(alu32_k(BPF_RSH, R1, 16));
    if (r.allow) {
      // Every requested bit must be in the rule: (request & ~access) == 0.
      block.push_back(alu32_k(BPF_AND, R1, static_cast<int32_t>(~uint32_t{r.access})));
      skip_unless(BPF_JNE, 0);
    } else {
      // Any requested bit in the rule denies: (request & access) != 0.
      block.push_back(alu32_k(BPF_AND, R1, r.access));
      skip_unless(BPF_JEQ, 0);
    }
  }
  if (r.major >= 0) {
    block.push_back(load_ctx_u32(offsetof(bpf_cgroup_dev_ctx, major)));
    skip_unless(BPF_JNE, static_cast<int32_t>(r.major));
  }
  if (r.minor >= 0) {
    block.push_back(load_ctx_u32(offsetof(bpf_cgroup_dev_ctx, minor)));
    skip_unless(BPF_JNE, static_cast<int32_t>(r.minor));
  }
  block.push_back(mov64_k(R0, r.allow ? 1 : 0));
  block.push_back(exit_insn());
  for (size_t i : skips) block[i].off = static_cast<int16_t>(block.size() - (i + 1));
  prog.insert(prog.end(), block.begin(), block.end());
}

}  // namespace

std::vector<bpf_insn> build_program(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> prog = {mov64_x(R6, R1)};
  bool default_allow = true;
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (it->type == 'a') {  // matches everything: nothing before it matters
      default_allow = it->allow;
      break;
    }
    append_rule(prog, *it);
  }
  prog.push_back(mov64_k(R0, default_allow ? 1 : 0));
  prog.push_back(exit_insn());
  return prog;
}

Result<Fd> load(const std::vector<bpf_insn>& insns) {
  // No helpers are called, so the license string has no effect on what the verifier allows.
  static const char kLicense[] = "Apache-2.0";
  auto attempt = [&](char* log, uint32_t log_size) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = ptr(insns.data());
    attr.insn_cnt = static_cast<uint32_t>(insns.size());
    attr.license = ptr(kLicense);
    std::strncpy(attr.prog_name, "veil_devices", sizeof attr.prog_name - 1);
    if (log) {
      attr.log_buf = ptr(log);
      attr.log_size = log_size;
      attr.log_level = 1;
    }
    return Fd(bpf(BPF_PROG_LOAD, &attr));
  };
  Fd fd = attempt(nullptr, 0);
  if (fd) return fd;
  int err = errno;
  if (err == EPERM)
    return fail("load the BPF device program: not permitted (needs CAP_BPF or CAP_SYS_ADMIN)", err);
  std::string log(64 * 1024, '\0');
  Fd again = attempt(log.data(), static_cast<uint32_t>(log.size()));
  if (again) return again;  // a transient failure
  log.resize(std::strlen(log.c_str()));
  while (!log.empty() && log.back() == '\n') log.pop_back();
  if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
  return fail("load the BPF device program (" + std::to_string(insns.size()) + " instructions)" +
                  (log.empty() ? std::string() : ": verifier says: " + log),
              err);
}

Result<std::vector<uint32_t>> attached(const std::string& cgroup_dir) {
  Fd cg(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return fail_errno("open " + cgroup_dir);
  std::vector<uint32_t> ids(16);
  for (;;) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.query.target_fd = static_cast<uint32_t>(cg.get());
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = ptr(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (bpf(BPF_PROG_QUERY, &attr) == 0) {
      ids.resize(attr.query.prog_cnt);
      return ids;
    }
    if (errno != ENOSPC || ids.size() > 4096)
      return fail_errno("query the device programs of " + cgroup_dir);
    ids.resize(ids.size() * 4);
  }
}

Result<> install(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules) {
  auto prog = VEIL_TRY(load(build_program(rules)));
  auto old = VEIL_TRY(attached(cgroup_dir));
  Fd cg(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return fail_errno("open " + cgroup_dir);
  std::vector<Fd> old_fds;
  for (uint32_t id : old) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_id = id;
    Fd f(bpf(BPF_PROG_GET_FD_BY_ID, &attr));
    if (!f) {
      if (errno == ENOENT) continue;  // detached meanwhile
      return fail_errno("open device program " + std::to_string(id) + " of " + cgroup_dir);
    }
    old_fds.push_back(std::move(f));
  }
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(cg.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (old_fds.size() == 1) {
    // Swap in place: no moment with neither or both programs.
    attr.attach_flags |= BPF_F_REPLACE;
    attr.replace_bpf_fd = static_cast<uint32_t>(old_fds[0].get());
    if (bpf(BPF_PROG_ATTACH, &attr) != 0)
      return fail_errno("replace the BPF device program of " + cgroup_dir);
    return {};
  }
  if (bpf(BPF_PROG_ATTACH, &attr) != 0)
    return fail_errno("attach the BPF device program to " + cgroup_dir);
  // Both run until the old ones are gone (all must allow): never more permissive meanwhile.
  for (const auto& f : old_fds) {
    std::memset(&attr, 0, sizeof attr);
    attr.target_fd = static_cast<uint32_t>(cg.get());
    attr.attach_bpf_fd = static_cast<uint32_t>(f.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, &attr) != 0 && errno != ENOENT)
      return fail_errno("detach the previous BPF device program of " + cgroup_dir);
  }
  return {};
}

}  // namespace veil::cgroups::bpf_devices
