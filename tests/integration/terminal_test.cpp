// process.terminal: a pty from the container's devpts, handed over --console-socket or relayed by
// a foreground run/exec.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "base/fd.hpp"
#include "harness.hpp"

namespace veil::test {
namespace {

TEST(Terminal, ForegroundRunRelaysThePty) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "tty; test -t 0 && test -t 1 && echo is-a-tty; stty size"});
  b.config["process"]["terminal"] = true;
  b.config["process"]["consoleSize"] = {{"height", 33}, {"width", 101}};
  b.write();
  Veil v;
  Cmd c = v({"run", "--bundle", b.dir(), unique_id("tty")});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("/dev/pts/0"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("is-a-tty"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("33 101"), std::string::npos) << c.out;
}

TEST(Terminal, ConsoleSocketReceivesTheMaster) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "read line; echo got:$line; test -t 1 && echo tty-ok"});
  b.config["process"]["terminal"] = true;
  b.write();
  std::string path = b.dir() + "/console.sock";
  Fd listener(listen_unix(path));
  ASSERT_TRUE(listener) << path;
  int master = -1;
  std::string name;
  std::thread t([&] { master = receive_fd(listener.get(), &name); });
  Veil v;
  std::string id = unique_id("console");
  Cmd c = v({"create", "--console-socket", path, "--bundle", b.dir(), id});
  t.join();
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_GE(master, 0);
  EXPECT_TRUE(name.starts_with("/dev/pts/")) << name;
  ASSERT_EQ(v({"start", id}).code, 0);
  ASSERT_EQ(::write(master, "hello\n", 6), 6);
  std::string out = read_until(master, "tty-ok");
  ::close(master);
  EXPECT_NE(out.find("got:hello"), std::string::npos) << out;
  EXPECT_NE(out.find("tty-ok"), std::string::npos) << out;
  EXPECT_TRUE(wait_status(v, id, "stopped"));
  EXPECT_EQ(v({"delete", id}).code, 0);
}

// containerd's shims put the console socket where their state is: a path can be longer than a
// unix socket address holds (107 bytes).
TEST(Terminal, ConsoleSocketPathLongerThanASocketAddressWorks) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sh", "-c", "test -t 1 && echo tty-ok"});
  b.config["process"]["terminal"] = true;
  b.write();
  std::string dir = b.dir() + "/" + std::string(100, 'd');
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::string path = dir + "/console.sock";
  ASSERT_GT(path.size(), sizeof(sockaddr_un{}.sun_path));
  Fd listener(listen_unix(path));
  ASSERT_TRUE(listener) << path;
  int master = -1;
  std::string name;
  std::thread t([&] { master = receive_fd(listener.get(), &name); });
  Veil v;
  std::string id = unique_id("longsock");
  Cmd c = v({"create", "--console-socket", path, "--bundle", b.dir(), id});
  t.join();
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_GE(master, 0);
  ASSERT_EQ(v({"start", id}).code, 0);
  EXPECT_NE(read_until(master, "tty-ok").find("tty-ok"), std::string::npos);
  ::close(master);
  EXPECT_TRUE(wait_status(v, id, "stopped"));
  EXPECT_EQ(v({"delete", id}).code, 0);
}

TEST(Terminal, TerminalWithoutConsoleSocketIsRefusedForCreate) {
  REQUIRE_ROOT();
  Bundle b({"/bin/true"});
  b.config["process"]["terminal"] = true;
  b.write();
  Veil v;
  std::string id = unique_id("notty");
  Cmd c = v({"create", "--bundle", b.dir(), id});
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("--console-socket"), std::string::npos) << c.err;
  EXPECT_TRUE(nothing_left(v, id, b));
}

TEST(Terminal, ExecWithTty) {
  REQUIRE_ROOT();
  Bundle b({"/bin/sleep", "30"});
  Veil v;
  std::string id = unique_id("exectty");
  ASSERT_EQ(v({"run", "-d", "--bundle", b.dir(), id}).code, 0);
  Cmd c = v({"exec", "--tty", id, "/bin/sh", "-c", "test -t 1 && echo exec-tty; tty"});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("exec-tty"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("/dev/pts/"), std::string::npos) << c.out;
  EXPECT_EQ(v({"delete", "-f", id}).code, 0);
}

}  // namespace
}  // namespace veil::test
