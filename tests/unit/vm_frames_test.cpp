// The microVM control channel: frame encoding and reassembly, and the host's checks of what the
// guest reports (vm/frame.hpp, vm/reports.hpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "vm/frame.hpp"
#include "vm/reports.hpp"

namespace veil::vm {
namespace {

TEST(VmFrames, RoundTripByteByByte) {
  std::string wire = encode_frame(FrameType::stdout_data, 7, "hello") +
                     encode_frame(FrameType::exit, 0, R"({"status":3})");
  FrameReader r;
  std::vector<Frame> got;
  for (char c : wire) {
    r.feed(&c, 1);
    while (auto f = r.next()) {
      ASSERT_TRUE(f.has_value());
      if (!*f) break;
      got.push_back(std::move(**f));
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, FrameType::stdout_data);
  EXPECT_EQ(got[0].proc, 7u);
  EXPECT_EQ(got[0].payload, "hello");
  EXPECT_EQ(got[1].type, FrameType::exit);
}

TEST(VmFrames, BadLengthsAndTypesAreErrors) {
  FrameReader a;
  std::string huge = "\x7f\xff\xff\xff";
  a.feed(huge.data(), huge.size());
  EXPECT_FALSE(a.next().has_value());
  FrameReader b;
  std::string unknown("\x00\x00\x00\x05\xee\x00\x00\x00\x00", 9);
  b.feed(unknown.data(), unknown.size());
  auto r = b.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("unknown frame type"), std::string::npos);
}

TEST(VmReports, ExitStatusesTheMonitorMayMirror) {
  EXPECT_EQ(exit_wait_status(R"({"status":3})"), 3 << 8);
  EXPECT_EQ(exit_wait_status(R"({"signal":9})"), SIGKILL);
  // A guest must not make its monitor stop itself, raise nothing, or exit with a made-up code.
  for (const char* bad :
       {R"({"signal":19})", R"({"signal":0})", R"({"signal":-9})", R"({"signal":"9"})",
        R"({"status":256})", R"({"status":-1})", "[]", "not json", "{}"})
    EXPECT_EQ(exit_wait_status(bad), 255 << 8) << bad;
}

TEST(VmReports, MessagesArePrintableAndPidsPositive) {
  EXPECT_EQ(error_message(R"({"message":"a\u001b[2Jb"})"), "a?[2Jb");
  EXPECT_EQ(error_message("plain\ntext"), "plain?text");
  EXPECT_EQ(error_message(std::string(10000, 'x')).size(), 4096u);
  EXPECT_EQ(reported_pid(R"({"pid":80})"), 80);
  EXPECT_FALSE(reported_pid(R"({"pid":0})"));
  EXPECT_FALSE(reported_pid(R"({"pid":"80"})"));
}

}  // namespace
}  // namespace veil::vm
