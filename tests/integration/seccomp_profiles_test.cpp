// Seccomp profiles as real clusters have them: written before close_range existed, with
// defaultErrnoRet, answering ENOSYS, allowing only what one static program needs, and
// SCMP_ACT_NOTIFY on the very syscalls a container's init makes. veil must start all of them,
// for the init and for `exec`, and must make no syscall after the filter that the filter may
// refuse (runtime/process.hpp).
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.hpp"
#include "harness.hpp"
#include "seccomp_agent.hpp"

namespace veil::test {
namespace {

using nlohmann::json;

// An allow list in the style of the profiles written in 2018–2019 (Docker's default of that time,
// trimmed): no close_range, clone3, openat2, faccessat2, epoll_pwait2 or pidfd_*.
const std::vector<std::string> kOldAllowList = {"accept",
                                                "access",
                                                "arch_prctl",
                                                "bind",
                                                "brk",
                                                "capget",
                                                "capset",
                                                "chdir",
                                                "chmod",
                                                "chown",
                                                "clock_gettime",
                                                "clock_nanosleep",
                                                "clone",
                                                "close",
                                                "connect",
                                                "dup",
                                                "dup2",
                                                "dup3",
                                                "epoll_create1",
                                                "epoll_ctl",
                                                "epoll_pwait",
                                                "epoll_wait",
                                                "execve",
                                                "exit",
                                                "exit_group",
                                                "faccessat",
                                                "fchdir",
                                                "fchmod",
                                                "fchown",
                                                "fcntl",
                                                "fstat",
                                                "fstatfs",
                                                "futex",
                                                "getcwd",
                                                "getdents64",
                                                "getegid",
                                                "geteuid",
                                                "getgid",
                                                "getgroups",
                                                "getpgrp",
                                                "getpid",
                                                "getppid",
                                                "getrandom",
                                                "getresgid",
                                                "getresuid",
                                                "getrlimit",
                                                "getsockname",
                                                "gettid",
                                                "getuid",
                                                "ioctl",
                                                "kill",
                                                "lseek",
                                                "lstat",
                                                "madvise",
                                                "mkdir",
                                                "mmap",
                                                "mprotect",
                                                "munmap",
                                                "nanosleep",
                                                "newfstatat",
                                                "open",
                                                "openat",
                                                "pipe",
                                                "pipe2",
                                                "poll",
                                                "ppoll",
                                                "prctl",
                                                "pread64",
                                                "prlimit64",
                                                "pselect6",
                                                "read",
                                                "readlink",
                                                "readlinkat",
                                                "recvfrom",
                                                "recvmsg",
                                                "rename",
                                                "rmdir",
                                                "rseq",
                                                "rt_sigaction",
                                                "rt_sigprocmask",
                                                "rt_sigreturn",
                                                "sched_getaffinity",
                                                "sched_yield",
                                                "select",
                                                "sendmsg",
                                                "sendto",
                                                "set_robust_list",
                                                "set_tid_address",
                                                "setgid",
                                                "setgroups",
                                                "setpgid",
                                                "setresgid",
                                                "setresuid",
                                                "setsid",
                                                "setuid",
                                                "sigaltstack",
                                                "socket",
                                                "stat",
                                                "statfs",
                                                "statx",
                                                "sysinfo",
                                                "tgkill",
                                                "umask",
                                                "uname",
                                                "unlink",
                                                "unlinkat",
                                                "vfork",
                                                "wait4",
                                                "write",
                                                "writev"};

json profile(const std::vector<std::string>& allow, json extra = json::object()) {
  json p = {{"defaultAction", "SCMP_ACT_ERRNO"},
            {"architectures", {"SCMP_ARCH_X86_64"}},
            {"syscalls", {{{"names", allow}, {"action", "SCMP_ACT_ALLOW"}}}}};
  for (auto& [k, v] : extra.items()) p[k] = v;
  return p;
}

struct Case {
  const char* name;
  json seccomp;
};

void expect_runs_and_execs(const json& seccomp, bool nnp, const std::string& what) {
  Veil v;
  Bundle b({"/bin/sh", "-c", "echo init-ok; exec sleep 30"});
  b.config["linux"]["seccomp"] = seccomp;
  b.config["process"]["noNewPrivileges"] = nnp;
  b.write();
  std::string id = unique_id("oldprof");
  Cmd c = v({"run", "-d", "--bundle", b.dir(), id});
  ASSERT_EQ(c.code, 0) << what << ": " << c.err;
  Cmd e = v({"exec", id, "/bin/echo", "exec-ok"});
  EXPECT_EQ(e.code, 0) << what << ": " << e.err;
  EXPECT_EQ(e.out, "exec-ok\n") << what;
  // The profile is in force: symlink/symlinkat are not on the list.
  Cmd m = v({"exec", id, "/bin/ln", "-s", "a", "/tmp/l"});
  EXPECT_NE(m.code, 0) << what;
  EXPECT_EQ(v({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(SeccompProfiles, OldProfilesWithoutCloseRangeStartAndExec) {
  REQUIRE_ROOT();
  const std::vector<Case> cases = {
      {"no close_range, EPERM default", profile(kOldAllowList)},
      {"defaultErrnoRet ENXIO", profile(kOldAllowList, {{"defaultErrnoRet", 6}})},
      {"answers ENOSYS", profile(kOldAllowList, {{"defaultErrnoRet", 38}})},
  };
  for (const auto& c : cases)
    for (bool nnp : {false, true})
      expect_runs_and_execs(c.seccomp, nnp, std::string(c.name) + (nnp ? ", nnp" : ", no nnp"));
}

// With noNewPrivileges the profile is loaded right before execve: a profile that allows exactly
// what busybox's static `true` needs (measured with strace) is enough, for run and exec.
TEST(SeccompProfiles, AProfileForAStaticTrueIsEnough) {
  REQUIRE_ROOT();
  const std::vector<std::string> only_true = {
      "arch_prctl",     "brk",   "execve",    "exit_group", "getrandom", "getuid",
      "mprotect",       "prctl", "prlimit64", "readlink",   "rseq",      "set_robust_list",
      "set_tid_address"};
  Veil v;
  Bundle b({"/bin/true"});
  b.config["linux"]["seccomp"] = profile(only_true);
  b.config["process"]["noNewPrivileges"] = true;
  b.write();
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("truep")});
  EXPECT_EQ(c.code, 0) << c.err;
  // The control: anything more than `true` is refused.
  b.config["process"]["args"] = {"/bin/ls", "/"};
  b.write();
  Cmd l = v({"run", "--bundle", b.dir(), unique_id("truep")});
  EXPECT_NE(l.code, 0);
  EXPECT_EQ(l.out, "");
}

TEST(SeccompNotify, TheInitsOwnSyscallsCanBeNotified) {
  REQUIRE_ROOT();
  Veil v;
  SeccompAgent agent(v.root() + "-agent.sock");
  json seccomp = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"listenerPath", agent.path()},
      {"listenerMetadata", "veil-test"},
      {"syscalls",
       {{{"names",
          {"read", "write", "close", "openat", "sendmsg", "recvmsg", "execve", "mkdir", "mkdirat"}},
         {"action", "SCMP_ACT_NOTIFY"}}}}};
  for (bool nnp : {false, true}) {
    Bundle b({"/bin/sh", "-c", "echo init-ok; mkdir /tmp/d && exec sleep 30"});
    b.config["linux"]["seccomp"] = seccomp;
    b.config["process"]["noNewPrivileges"] = nnp;
    b.write();
    std::string id = unique_id("notify");
    int before = agent.connections();
    Cmd c = v({"run", "-d", "--bundle", b.dir(), id});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(agent.connections(), before + 1);
    Cmd e = v({"exec", id, "/bin/echo", "exec-ok"});
    EXPECT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.out, "exec-ok\n");
    EXPECT_EQ(agent.connections(), before + 2);  // exec'd processes get the filter too
    bool made = false;                           // the init's mkdir went through the agent
    for (int i = 0; i < 250 && !made; ++i) {
      made = v({"exec", id, "/bin/test", "-d", "/tmp/d"}).code == 0;
      if (!made) ::usleep(20000);
    }
    EXPECT_TRUE(made);
    EXPECT_EQ(v({"delete", "--force", id}).code, 0);
    EXPECT_TRUE(nothing_left(v, id, b));
  }
  auto seen = agent.syscalls();
  EXPECT_TRUE(seen.count(59)) << "execve was notified";  // x86_64 numbers
  EXPECT_TRUE(seen.count(1)) << "write was notified";
  EXPECT_TRUE(seen.count(83) || seen.count(258))
      << "mkdir was notified; seen: " << ::testing::PrintToString(seen);
  auto msgs = agent.messages();
  ASSERT_FALSE(msgs.empty());
  EXPECT_NE(msgs[0].find("\"metadata\":\"veil-test\""), std::string::npos) << msgs[0];
  EXPECT_NE(msgs[0].find("\"seccompFd\""), std::string::npos) << msgs[0];
}

TEST(SeccompNotify, AMissingListenerIsAClearErrorAndLeavesNothing) {
  REQUIRE_ROOT();
  Veil v;
  Bundle b({"/bin/true"});
  std::string sock = v.root() + "-nobody.sock";
  b.config["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"listenerPath", sock},
      {"syscalls", {{{"names", {"write", "execve"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  b.write();
  std::string id = unique_id("nolistener");
  Cmd c = v({"run", "--bundle", b.dir(), id});
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.err.find("seccomp listener " + sock), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

}  // namespace
}  // namespace veil::test
