// ttrpc (src/ttrpc): the framing, and a server and client talking over a real unix socket —
// replies matched by stream, concurrency on one connection, deadlines, Unimplemented, a
// malformed peer, a server that goes away.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "base/time.hpp"
#include "temp_dir.hpp"
#include "ttrpc.pb.h"
#include "ttrpc/client.hpp"
#include "ttrpc/server.hpp"
#include "ttrpc/wire.hpp"

namespace veil::ttrpc {
namespace {

TEST(TtrpcWire, MessagesSurviveArrivingInPieces) {
  std::string a = encode(1, MessageType::request, "hello");
  std::string b = encode(3, MessageType::response, std::string(70000, 'x'));
  ASSERT_EQ(a.size(), kHeaderSize + 5);
  EXPECT_EQ(std::string(a.data(), 10), std::string("\0\0\0\5\0\0\0\1\1\0", 10));
  std::string all = a + b;
  Decoder d;
  std::vector<Message> got;
  for (size_t i = 0; i < all.size(); i += 7) {  // odd-sized pieces, splitting headers too
    d.feed(all.data() + i, std::min<size_t>(7, all.size() - i));
    for (;;) {
      auto m = d.next();
      ASSERT_TRUE(m) << m.error().str();
      if (!*m) break;
      got.push_back(std::move(**m));
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].stream, 1u);
  EXPECT_EQ(got[0].type, MessageType::request);
  EXPECT_EQ(got[0].data, "hello");
  EXPECT_EQ(got[1].stream, 3u);
  EXPECT_EQ(got[1].data.size(), 70000u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(TtrpcWire, AnOversizedLengthOrAnUnknownTypeIsRefused) {
  Decoder big;
  std::string h("\x00\x40\x00\x01\0\0\0\1\1\0", 10);  // 4 MiB + 1
  big.feed(h.data(), h.size());
  auto r = big.next();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("exceeds"), std::string::npos) << r.error().msg;
  Decoder odd;
  std::string t("\0\0\0\0\0\0\0\1\7\0", 10);
  odd.feed(t.data(), t.size());
  r = odd.next();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("unknown message type 7"), std::string::npos);
}

class TtrpcServer : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "t.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path_.c_str());
    ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(listener_.get(), 8), 0);
    server_.handle("t.Svc", "Echo",
                   [](const std::string& p, const Context&) -> Reply { return "echo:" + p; });
    server_.handle("t.Svc", "Fail", [](const std::string&, const Context&) -> Reply {
      return status(Code::not_found, "no such thing");
    });
    server_.handle("t.Svc", "Slow", [this](const std::string&, const Context&) -> Reply {
      ++slow_started_;
      for (int i = 0; i < 500 && !release_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return std::string("slow done");
    });
    server_.handle("t.Svc", "Count", [this](const std::string&, const Context&) -> Reply {
      ++counted_;
      return std::string();
    });
    serving_ = std::thread([this] { (void)server_.serve(listener_.get()); });
  }
  void TearDown() override {
    release_ = true;
    server_.shutdown();
    serving_.join();
  }

  std::unique_ptr<Client> client() {
    auto c = Client::connect(path_, 2000);
    EXPECT_TRUE(c) << c.error().str();
    return c ? std::move(*c) : nullptr;
  }

  veil_test::TempDir dir_;
  std::string path_;
  Fd listener_;
  Server server_;
  std::thread serving_;
  std::atomic<int> slow_started_{0}, counted_{0};
  std::atomic<bool> release_{false};
};

TEST_F(TtrpcServer, CallsGetTheirRepliesAndStatusesAndUnknownMethodsAreUnimplemented) {
  auto c = client();
  ASSERT_TRUE(c);
  auto r = c->call("t.Svc", "Echo", "abc", 2000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "echo:abc");
  r = c->call("t.Svc", "Fail", "", 2000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::not_found);
  EXPECT_EQ(r.error().message, "no such thing");
  r = c->call("t.Svc", "Checkpoint", "", 2000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::unimplemented);
  EXPECT_NE(r.error().message.find("t.Svc/Checkpoint"), std::string::npos);
  r = c->call("other.Svc", "Echo", "", 2000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::unimplemented);
}

// containerd keeps Wait pending while it calls State and Delete on the same connection.
TEST_F(TtrpcServer, ASlowCallDoesNotHoldBackOthersOnTheSameConnection) {
  auto c = client();
  ASSERT_TRUE(c);
  auto slow = std::async(std::launch::async, [&] { return c->call("t.Svc", "Slow", "", 10000); });
  while (slow_started_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int64_t t0 = monotonic_ms();
  for (int i = 0; i < 20; ++i) {
    auto r = c->call("t.Svc", "Echo", std::to_string(i), 2000);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "echo:" + std::to_string(i));
  }
  EXPECT_LT(monotonic_ms() - t0, 2000);
  EXPECT_EQ(slow.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the slow call finished before it was released";
  release_ = true;
  auto r = slow.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "slow done");
}

TEST_F(TtrpcServer, ACallPastItsDeadlineFailsAndTheConnectionStaysUsable) {
  auto c = client();
  ASSERT_TRUE(c);
  int64_t t0 = monotonic_ms();
  auto r = c->call("t.Svc", "Slow", "", 200);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::deadline_exceeded);
  EXPECT_LT(monotonic_ms() - t0, 1500);
  release_ = true;  // its late reply must not be taken for the next call's
  auto e = c->call("t.Svc", "Echo", "after", 2000);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(*e, "echo:after");
}

// A request whose deadline passed before it could run is answered, not run.
TEST_F(TtrpcServer, ARequestWhoseDeadlineHasPassedIsNotRun) {
  auto fd = dial(path_, 2000);
  ASSERT_TRUE(fd);
  ::ttrpc::Request req;
  req.set_service("t.Svc");
  req.set_method("Count");
  req.set_timeout_nano(1);  // 1 ns: gone by the time the server looks
  std::string msg = encode(1, MessageType::request, req.SerializeAsString());
  ASSERT_EQ(::write(fd->get(), msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  char buf[4096];
  ssize_t n = ::read(fd->get(), buf, sizeof buf);
  ASSERT_GT(n, static_cast<ssize_t>(kHeaderSize));
  ::ttrpc::Response resp;
  ASSERT_TRUE(resp.ParseFromArray(buf + kHeaderSize, static_cast<int>(n - kHeaderSize)));
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::deadline_exceeded));
  EXPECT_EQ(counted_, 0);
}

TEST_F(TtrpcServer, AMalformedPeerLosesOnlyItsOwnConnection) {
  auto good = client();
  ASSERT_TRUE(good);
  auto bad = dial(path_, 2000);
  ASSERT_TRUE(bad);
  std::string junk("\x7f\xff\xff\xff\0\0\0\1\1\0", 10);  // a 2 GiB message
  ASSERT_EQ(::write(bad->get(), junk.data(), junk.size()), 10);
  char b;
  EXPECT_EQ(::read(bad->get(), &b, 1), 0) << "the server kept a connection it cannot resync";
  auto r = good->call("t.Svc", "Echo", "still", 2000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "echo:still");
}

TEST_F(TtrpcServer, AServerThatGoesAwayFailsThePendingCall) {
  auto c = client();
  ASSERT_TRUE(c);
  auto pending =
      std::async(std::launch::async, [&] { return c->call("t.Svc", "Slow", "", 20000); });
  while (slow_started_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int64_t t0 = monotonic_ms();
  std::thread([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    release_ = true;
    server_.shutdown();
  }).detach();
  auto r = pending.get();
  EXPECT_LT(monotonic_ms() - t0, 5000);
  if (!r) {
    EXPECT_EQ(r.error().code, Code::unavailable);
  }
  // Once gone, new calls fail at once.
  auto again = c->call("t.Svc", "Echo", "", 2000);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::unavailable);
}

}  // namespace
}  // namespace veil::ttrpc
