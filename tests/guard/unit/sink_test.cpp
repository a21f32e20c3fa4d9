// The audit sinks: the log rotates by size and keeps the configured number of files; a client
// that stops reading loses events, which are counted and then reported to it in the stream.
#include "guard/daemon/sink.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/file.hpp"

namespace veil::guard {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/veil-sink-XXXXXX";
  return ::mkdtemp(tmpl);
}

TEST(GuardAuditLog, RotatesBySizeAndKeepsNFiles) {
  std::string dir = temp_dir();
  AuditLog log(dir + "/audit.jsonl", 1000, 2);
  ASSERT_TRUE(log.open());
  std::string line(99, 'x');  // 100 bytes with the newline
  for (int i = 0; i < 35; ++i) ASSERT_TRUE(log.write(line));
  EXPECT_EQ(log.rotations(), 3u);
  EXPECT_EQ(read_file(dir + "/audit.jsonl")->size(), 500u);
  EXPECT_EQ(read_file(dir + "/audit.jsonl.1")->size(), 1000u);
  EXPECT_EQ(read_file(dir + "/audit.jsonl.2")->size(), 1000u);
  EXPECT_FALSE(path_exists(dir + "/audit.jsonl.3"));
  (void)remove_all(dir);
}

TEST(GuardSubscribers, ASlowClientIsToldWhatItLost) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int small = 4096;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  Subscribers subs;
  subs.add(Fd(sv[0]));
  std::string line(1000, 'e');
  // Nobody reads: the socket buffer and then the 4 MiB backlog fill up.
  for (int i = 0; i < 6000; ++i) subs.publish(line);
  uint64_t dropped = subs.dropped();
  EXPECT_GT(dropped, 1000u);
  // The client drains; the next publish carries a loss record with the count.
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) {
      subs.flush();
      n = ::recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  subs.publish("{\"type\":\"event\",\"n\":\"after\"}");
  for (int i = 0; i < 10; ++i) {
    ssize_t n = ::recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  std::string loss = "{\"count\":" + std::to_string(dropped) +
                     ",\"reason\":\"this client read too slowly\",\"source\":\"subscriber\","
                     "\"type\":\"loss\"}\n";
  auto at = got.find(loss);
  EXPECT_NE(at, std::string::npos) << got.substr(got.size() > 300 ? got.size() - 300 : 0);
  EXPECT_NE(got.find("\"n\":\"after\"", at), std::string::npos);
  ::close(sv[1]);
}

TEST(GuardSubscribers, ClosedClientsAreDropped) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Subscribers subs;
  subs.add(Fd(sv[0]));
  EXPECT_EQ(subs.count(), 1u);
  ::close(sv[1]);
  subs.flush();
  EXPECT_EQ(subs.count(), 0u);
}

}  // namespace
}  // namespace veil::guard
