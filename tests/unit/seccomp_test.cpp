#include "linux/seccomp.hpp"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include "runtime/state.hpp"
#include "temp_dir.hpp"

using nlohmann::json;
using veil_test::TempDir;
namespace seccomp = veil::seccomp;

namespace {

std::string compile_error(const std::string& text) {
  auto r = seccomp::compile(json::parse(text));
  if (r) return "(compiled)";
  return r.error().msg;
}

seccomp::CompiledFilter compile_ok(const std::string& text) {
  auto r = seccomp::compile(json::parse(text));
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().str());
  return r ? std::move(*r) : seccomp::CompiledFilter{};
}

// Runs fn in a forked child and returns its wait status. The child never returns into gtest.
int in_child(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);  // never hang the test run
    _exit(fn());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Loads f in the calling (child) process with no_new_privs, as the container init will.
int load_in_child(seccomp::CompiledFilter& f, int* nfd = nullptr) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 100;
  auto r = seccomp::load(f);
  if (!r) return 101;
  if (nfd) *nfd = *r;
  return 0;
}

}  // namespace

// --- validation ---

TEST(Seccomp, ErrorsNameTheJsonPath) {
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["read"],"action":"SCMP_ACT_ALLOW"},
      {"names":["write"],"action":"SCMP_ACT_ALLOW"},
      {"names":["open"],"action":"SCMP_ACT_ERRNO"},
      {"names":["close"],"action":"SCMP_ACT_FOO"}]})"),
            "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\"");
  EXPECT_EQ(compile_error(R"({"syscalls":[]})"), "linux.seccomp.defaultAction: is required");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_KILL_ALL"})"),
            "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_KILL_ALL\"");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW",
      "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_VAX"]})"),
            "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
  EXPECT_EQ(
      compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FOO"]})"),
      "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\"");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["personality"],"action":"SCMP_ACT_ERRNO",
       "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_XX"}]}]})"),
            "linux.seccomp.syscalls[0].args[1].op: unknown operator \"SCMP_CMP_XX\"");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["personality"],"action":"SCMP_ACT_ERRNO",
       "args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]})"),
            "linux.seccomp.syscalls[0].args[0].index: must be 0..5, got 6");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"op":"SCMP_CMP_EQ"}]}]})"),
            "linux.seccomp.syscalls[0].args[0].value: is required");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"action":"SCMP_ACT_ERRNO"}]})"),
            "linux.seccomp.syscalls[0].names: is required");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir", 7],"action":"SCMP_ACT_ERRNO"}]})")
                .rfind("linux.seccomp.syscalls[0].names[1]: ", 0),
            0u);
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]})")
                .rfind("linux.seccomp.syscalls[0].errnoRet: ", 0),
            0u);
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1})")
                .rfind("linux.seccomp.defaultErrnoRet: ", 0),
            0u);
  EXPECT_EQ(compile_error(R"(["SCMP_ACT_ALLOW"])").rfind("linux.seccomp: expected ", 0), 0u);
}

TEST(Seccomp, NotifyRules) {
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/run/a.sock"})"),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action");
  EXPECT_EQ(compile_error(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]})"),
            "linux.seccomp.listenerPath: is required when a rule uses SCMP_ACT_NOTIFY");
  if (seccomp_api_get() < 6) GTEST_SKIP() << "libseccomp API level < 6: no notify";
  // write may be notified too (the runtime never needs it to hand the listener fd over).
  EXPECT_TRUE(compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/a.sock",
      "syscalls":[{"names":["mkdir","write"],"action":"SCMP_ACT_NOTIFY"}]})")
                  .uses_notify());
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/a.sock",
      "listenerMetadata":"meta","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]})");
  EXPECT_TRUE(f.valid());
  EXPECT_TRUE(f.uses_notify());
  EXPECT_EQ(f.listener_path, "/run/a.sock");
  EXPECT_EQ(f.listener_metadata, "meta");
}

TEST(Seccomp, FlagsAndWaitKillable) {
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW",
      "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"]})");
  EXPECT_TRUE(f.valid());
  auto r = seccomp::compile(json::parse(
      R"({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})"));
  const scmp_version* v = seccomp_version();
  if (v->major == 2 && v->minor < 6) {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().msg.rfind("linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV "
                                  "is not supported by this build",
                                  0),
              0u)
        << r.error().msg;
  }
}

TEST(Seccomp, WholeProfileCompiles) {
  // Every action, operator and the x86 family of architectures; a rule equal to the default
  // action; repeated argument indexes (one rule per condition, as runc); unknown names skipped.
  auto f = compile_ok(R"({
    "defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
    "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
    "syscalls":[
      {"names":["read","write","exit_group","no_such_syscall_veil"],"action":"SCMP_ACT_ALLOW"},
      {"names":["getppid"],"action":"SCMP_ACT_KILL"},
      {"names":["getpgrp"],"action":"SCMP_ACT_KILL_PROCESS"},
      {"names":["getsid"],"action":"SCMP_ACT_KILL_THREAD"},
      {"names":["getuid"],"action":"SCMP_ACT_TRAP"},
      {"names":["getgid"],"action":"SCMP_ACT_TRACE","errnoRet":1},
      {"names":["geteuid"],"action":"SCMP_ACT_LOG"},
      {"names":["getegid"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
      {"names":["socketcall","socket"],"action":"SCMP_ACT_ALLOW"},
      {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[
        {"index":0,"value":0,"op":"SCMP_CMP_EQ"},
        {"index":0,"value":8,"op":"SCMP_CMP_EQ"},
        {"index":0,"value":131072,"op":"SCMP_CMP_EQ"}]},
      {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[
        {"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
      {"names":["fcntl"],"action":"SCMP_ACT_ALLOW","args":[
        {"index":1,"value":1,"op":"SCMP_CMP_NE"},{"index":2,"value":5,"op":"SCMP_CMP_LT"}]},
      {"names":["dup3"],"action":"SCMP_ACT_ALLOW","args":[
        {"index":0,"value":1,"op":"SCMP_CMP_LE"},{"index":1,"value":2,"op":"SCMP_CMP_GE"},
        {"index":2,"value":3,"op":"SCMP_CMP_GT"}]}
    ]})");
  EXPECT_TRUE(f.valid());
  EXPECT_FALSE(f.uses_notify());
  EXPECT_EQ(f.skipped_syscalls, std::vector<std::string>{"no_such_syscall_veil"});
}

// --- real behaviour, in forked children ---

TEST(Seccomp, ErrnoRetReallyReturned) {
  TempDir tmp;
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":42}]})");
  ASSERT_TRUE(f.valid());
  std::string dir = tmp / "blocked";
  int status = in_child([&] {
    int nfd = 0;
    if (int rc = load_in_child(f, &nfd)) return rc;
    if (nfd != -1) return 2;
    errno = 0;
    if (mkdir(dir.c_str(), 0755) != -1 || errno != 42) return 3;
    errno = 0;
    if (syscall(SYS_mkdirat, AT_FDCWD, dir.c_str(), 0755) != -1 || errno != 42) return 4;
    if (getpid() <= 0 || syscall(SYS_getpid) != getpid()) return 5;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(access(dir.c_str(), F_OK), 0) << "mkdir was not blocked";
  // The parent is not filtered.
  EXPECT_EQ(mkdir(dir.c_str(), 0755), 0);
}

TEST(Seccomp, ArgumentConditions) {
  // personality(0xffffffff) only queries; ERRNO without errnoRet means EPERM.
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["personality"],"action":"SCMP_ACT_ERRNO",
       "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]},
      {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
       "args":[{"index":0,"value":4294901760,"valueTwo":305397760,"op":"SCMP_CMP_MASKED_EQ"}]}]})");
  ASSERT_TRUE(f.valid());
  int status = in_child([&] {
    if (int rc = load_in_child(f)) return rc;
    errno = 0;
    if (personality(0xffffffff) != -1 || errno != EPERM) return 2;
    if (personality(PER_LINUX) == -1) return 3;  // other values pass
    errno = 0;
    if (personality(0x12340000) != -1 || errno != 33) return 4;  // masked: 0x1234xxxx
    if (personality(0x00000008) == -1) return 5;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Seccomp, DefaultErrnoRetAndKill) {
  // Memory and write calls stay allowed so a sanitizer runtime (make asan) can still work.
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":77,"syscalls":[
      {"names":["exit_group","exit","rt_sigreturn","getpid","mmap","munmap","madvise","brk",
                 "write","futex","sigaltstack","rt_sigprocmask","rt_sigaction"],
       "action":"SCMP_ACT_ALLOW"},
      {"names":["getpgrp"],"action":"SCMP_ACT_KILL_PROCESS"}]})");
  ASSERT_TRUE(f.valid());
  int status = in_child([&] {
    if (int rc = load_in_child(f)) return rc;
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != 77) return 2;
    if (syscall(SYS_getpid) <= 0) return 3;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);

  status = in_child([&] {
    if (int rc = load_in_child(f)) return rc;
    syscall(SYS_getpgrp);
    return 0;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Seccomp, LoadWithoutNoNewPrivsNeedsCapSysAdmin) {
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["getppid"],"action":"SCMP_ACT_ERRNO"}]})");
  ASSERT_TRUE(f.valid());
  // As root with CAP_SYS_ADMIN, loading without no_new_privs works and does not set it.
  int status = in_child([&] {
    auto r = seccomp::load(f);
    if (!r) return 2;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0) return 3;
    return syscall(SYS_getppid) == -1 && errno == EPERM ? 0 : 4;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Seccomp, NotifyFdReachesTheListener) {
  if (seccomp_api_get() < 6) GTEST_SKIP() << "libseccomp API level < 6: no notify";
  TempDir tmp;
  std::string sock_path = tmp / "agent.sock";
  std::string dir = tmp / "notified";
  auto f = compile_ok(R"({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":")" + sock_path +
                      R"(","listenerMetadata":"agent-meta","syscalls":[
      {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}]})");
  ASSERT_TRUE(f.valid());
  ASSERT_TRUE(f.uses_notify());

  // The agent's socket.
  veil::Fd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);

  int pipefd[2];
  ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
  veil::Fd rd(pipefd[0]), wr(pipefd[1]);

  // The "container init": load, hand the fd number over with write(2), then make a notified
  // syscall that only the agent can answer.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(20);
    int nfd = -1;
    if (int rc = load_in_child(f, &nfd)) _exit(rc);
    if (nfd < 0) _exit(2);
    if (write(wr.get(), &nfd, sizeof nfd) != sizeof nfd) _exit(3);
    errno = 0;
    int r = mkdir(dir.c_str(), 0755);
    _exit(r == -1 && errno == EXDEV ? 0 : 4);
  }
  wr.reset();
  int child_fd = -1;
  ASSERT_EQ(read(rd.get(), &child_fd, sizeof child_fd), static_cast<ssize_t>(sizeof child_fd));

  // The runtime side: copy the fd out of the child and send it with the state.
  auto copied = seccomp::fd_from_process(child, child_fd);
  ASSERT_TRUE(copied.has_value()) << copied.error().str();
  veil::runtime::State st;
  st.oci_version = "1.2.0";
  st.id = "c-notify";
  st.pid = child;
  st.bundle = "/run/bundles/c-notify";
  st.annotations = {{"k", "v"}};
  auto sent =
      seccomp::send_notify_fd(f.listener_path, f.listener_metadata,
                              st.public_json(veil::runtime::Status::running), copied->get(), child);
  ASSERT_TRUE(sent.has_value()) << sent.error().str();
  copied->reset();

  // The agent: accept, receive JSON + fd (one message, as runc's agents expect).
  veil::Fd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{buf, sizeof buf};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n = recvmsg(conn.get(), &mh, MSG_CMSG_CLOEXEC);
  ASSERT_GT(n, 0);
  ASSERT_LT(n, static_cast<ssize_t>(sizeof buf));
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->cmsg_type, SCM_RIGHTS);
  int got_fd = -1;
  std::memcpy(&got_fd, CMSG_DATA(c), sizeof got_fd);
  veil::Fd agent_fd(got_fd);

  json msg = json::parse(std::string(buf, static_cast<size_t>(n)));
  EXPECT_EQ(msg["ociVersion"], "1.2.0");
  EXPECT_EQ(msg["fds"], json::array({"seccompFd"}));
  EXPECT_EQ(msg["pid"], child);
  EXPECT_EQ(msg["metadata"], "agent-meta");
  EXPECT_EQ(msg["state"]["id"], "c-notify");
  EXPECT_EQ(msg["state"]["status"], "running");
  EXPECT_EQ(msg["state"]["pid"], child);
  EXPECT_EQ(msg["state"]["bundle"], "/run/bundles/c-notify");
  EXPECT_EQ(msg["state"]["annotations"]["k"], "v");

  char link[128] = {};
  std::string proc = "/proc/self/fd/" + std::to_string(got_fd);
  ASSERT_GT(readlink(proc.c_str(), link, sizeof link - 1), 0);
  EXPECT_STREQ(link, "anon_inode:seccomp notify");

  // Answer the child's mkdir through the received fd.
  pollfd p{got_fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "no notification arrived";
  seccomp_notif* req = nullptr;
  seccomp_notif_resp* resp = nullptr;
  ASSERT_EQ(seccomp_notify_alloc(&req, &resp), 0);
  ASSERT_EQ(seccomp_notify_receive(got_fd, req), 0);
  EXPECT_EQ(static_cast<pid_t>(req->pid), child);
  EXPECT_TRUE(req->data.nr == SYS_mkdir || req->data.nr == SYS_mkdirat) << req->data.nr;
  resp->id = req->id;
  resp->val = 0;
  resp->error = -EXDEV;
  resp->flags = 0;
  EXPECT_EQ(seccomp_notify_respond(got_fd, resp), 0);
  seccomp_notify_free(req, resp);

  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
}

TEST(Seccomp, SendNotifyFdErrorsNameTheListener) {
  TempDir tmp;
  std::string path = tmp / "nobody-listens.sock";
  auto r = seccomp::send_notify_fd(path, "", json::object(), 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().msg, "seccomp listener " + path + ": connect");
  EXPECT_EQ(r.error().err, ENOENT);
}
