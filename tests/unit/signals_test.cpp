#include "linux/signals.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <string>

using veil::linux_signals::parse_signal;
using veil::linux_signals::signal_name;

namespace {

int parse_ok(const std::string& s) {
  auto r = parse_signal(s);
  EXPECT_TRUE(r.has_value()) << "\"" << s << "\": " << (r ? "" : r.error().msg);
  return r ? *r : -1;
}

}  // namespace

TEST(Signals, NameSpellings) {
  for (const char* s : {"KILL", "SIGKILL", "sigkill", "kill", "SigKill", "9"})
    EXPECT_EQ(parse_ok(s), SIGKILL) << s;
  EXPECT_EQ(parse_ok("TERM"), SIGTERM);
  EXPECT_EQ(parse_ok("sigterm"), SIGTERM);
  EXPECT_EQ(parse_ok("15"), SIGTERM);
  EXPECT_EQ(parse_ok("HUP"), SIGHUP);
  EXPECT_EQ(parse_ok("USR1"), SIGUSR1);
  EXPECT_EQ(parse_ok("SIGWINCH"), SIGWINCH);
  EXPECT_EQ(parse_ok("CHLD"), SIGCHLD);
  EXPECT_EQ(parse_ok("SIGIOT"), SIGABRT);
}

TEST(Signals, Numbers) {
  EXPECT_EQ(parse_ok("1"), 1);
  EXPECT_EQ(parse_ok(std::to_string(SIGRTMAX)), SIGRTMAX);
  EXPECT_EQ(parse_ok(std::to_string(SIGRTMIN)), SIGRTMIN);
}

TEST(Signals, RealTime) {
  EXPECT_EQ(parse_ok("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_ok("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_ok("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_ok("sigrtmin+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_ok("SIGRTMAX"), SIGRTMAX);
  EXPECT_EQ(parse_ok("0"), 0);  // kill ID 0: the liveness check
  EXPECT_EQ(parse_ok("SIGRTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_ok("rtmax-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_ok("SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)), SIGRTMAX);
  EXPECT_EQ(parse_ok("SIGRTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN)), SIGRTMIN);
}

TEST(Signals, Errors) {
  for (std::string s : {"",
                        "65",
                        "-1",
                        "-9",
                        "SIGNOPE",
                        "NOPE",
                        "SIG",
                        "RTMIN+99",
                        "SIGRTMIN+99",
                        "SIGRTMAX+1",
                        "SIGRTMIN-1",
                        "SIGRTMAX-99",
                        "SIGRTMIN+",
                        "SIGRTMINX",
                        "SIGRTMIN+3x",
                        "9x",
                        " 9",
                        "KILL ",
                        "99999999999999999999"}) {
    auto r = parse_signal(s);
    EXPECT_FALSE(r.has_value()) << "\"" << s << "\" parsed as " << (r ? *r : 0);
  }
}

TEST(Signals, OutOfRangeOffsetsDoNotOverflow) {
  // Offsets near INT_MAX must not wrap around into a valid (or negative) signal number.
  for (std::string s : {"SIGRTMIN+2147483647", "SIGRTMIN+2147483600", "SIGRTMAX--2147483648",
                        "SIGRTMAX-2147483647", "SIGRTMIN+-2147483648"}) {
    auto r = parse_signal(s);
    EXPECT_FALSE(r.has_value()) << "\"" << s << "\" parsed as " << (r ? *r : 0);
  }
}

TEST(Signals, ErrorMessagesNameTheInput) {
  auto r = parse_signal("SIGNOPE");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("SIGNOPE"), std::string::npos) << r.error().msg;

  auto n = parse_signal("65");
  ASSERT_FALSE(n.has_value());
  EXPECT_NE(n.error().msg.find("65"), std::string::npos) << n.error().msg;

  auto e = parse_signal("");
  ASSERT_FALSE(e.has_value());
  EXPECT_FALSE(e.error().msg.empty());
}

TEST(Signals, SignalName) {
  EXPECT_STREQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_STREQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(signal_name(SIGHUP), "SIGHUP");
  EXPECT_EQ(signal_name(0), nullptr);
  EXPECT_EQ(signal_name(-1), nullptr);
  EXPECT_EQ(signal_name(1000), nullptr);
}

TEST(Signals, NamesRoundTrip) {
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* name = signal_name(sig);
    if (!name) continue;
    EXPECT_EQ(parse_ok(name), sig) << name;
    // Without the "SIG" prefix too.
    ASSERT_EQ(std::strncmp(name, "SIG", 3), 0) << name;
    EXPECT_EQ(parse_ok(name + 3), sig) << name;
  }
}
