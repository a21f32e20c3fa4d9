// containerd-shim-veil-v2 driven directly, as containerd drives it (MICROVM.md §5): `start` prints
// the pod's address and a second `start` of the same pod reuses it, the task service answers over
// ttrpc (Connect, NotFound for an unknown task, Unimplemented for Checkpoint), Shutdown of an
// empty pod ends the shim, and `delete` is idempotent. The CRI suite (cri_pods_test.cpp) runs
// whole pods through it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_util.hpp"
#include "task.pb.h"
#include "ttrpc/client.hpp"

namespace veil::clients {
namespace {

const std::string kShim = kVeil.substr(0, kVeil.rfind('/') + 1) + "containerd-shim-veil-v2";

class ShimV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (/run/containerd/s)";
    dir_ = make_temp_dir("veil-shim-");
    write(dir_ + "/config.json", R"({"annotations":{"io.kubernetes.cri.sandbox-id":"pod-)" +
                                     std::to_string(::getpid()) + R"("}})");
  }
  void TearDown() override {
    if (!dir_.empty()) remove_tree(dir_);
  }
  Cmd shim(const std::string& action, const std::string& id) {
    return run({"sh", "-c",
                "cd " + dir_ + " && exec " + kShim + " -namespace veiltest -address " + dir_ +
                    "/containerd.sock -publish-binary /bin/false -id " + id + " -bundle " + dir_ +
                    " " + action});
  }
  std::string dir_;
};

TEST_F(ShimV2, StartServesThePodAndDeleteIsIdempotent) {
  Cmd first = shim("start", "sandbox");
  ASSERT_EQ(first.code, 0) << first.describe();
  EXPECT_TRUE(first.out.starts_with("unix:///run/containerd/s/")) << first.out;
  EXPECT_EQ(first.err, "");
  EXPECT_EQ(read(dir_ + "/address"), first.out);
  // CVE-2020-15257 (containerd-shim): an abstract socket is reachable from any process in the
  // host's network namespace, a host-network container included. This one is a file, 0600, in a
  // directory only root can enter.
  std::string sock = ttrpc::socket_path(first.out);
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0) << sock;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(read("/proc/net/unix").find("@" + sock.substr(sock.rfind('/') + 1)), std::string::npos)
      << "the shim listens on an abstract socket";
  // A second container of the pod: the same shim.
  Cmd second = shim("start", "app");
  ASSERT_EQ(second.code, 0) << second.describe();
  EXPECT_EQ(second.out, first.out);
  EXPECT_EQ(pids_with_cmdline(dir_ + "/containerd.sock").size(), 1u);

  auto c = ttrpc::Client::connect(first.out, 5000);
  ASSERT_TRUE(c) << c.error().str();
  containerd::task::v2::ConnectRequest creq;
  creq.set_id("sandbox");
  auto r = (*c)->call("containerd.task.v2.Task", "Connect", creq.SerializeAsString(), 5000);
  ASSERT_TRUE(r) << r.error().message;
  containerd::task::v2::ConnectResponse cresp;
  ASSERT_TRUE(cresp.ParseFromString(*r));
  auto shims = pids_with_cmdline(dir_ + "/containerd.sock");
  ASSERT_EQ(shims.size(), 1u);
  EXPECT_EQ(static_cast<pid_t>(cresp.shim_pid()), shims[0]);
  containerd::task::v2::StateRequest sreq;
  sreq.set_id("nothing");
  r = (*c)->call("containerd.task.v2.Task", "State", sreq.SerializeAsString(), 5000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ttrpc::Code::not_found) << r.error().message;
  r = (*c)->call("containerd.task.v2.Task", "Checkpoint", "", 5000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ttrpc::Code::unimplemented);
  r = (*c)->call("containerd.task.v2.Task", "Create", "\xff\xff", 5000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ttrpc::Code::invalid_argument) << r.error().message;
  // Shutdown of a pod without containers: the shim goes, and its socket with it.
  r = (*c)->call("containerd.task.v2.Task", "Shutdown", "", 5000);
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_TRUE(
      wait_until([&] { return pids_with_cmdline(dir_ + "/containerd.sock").empty(); }, 5000));
  EXPECT_FALSE(exists(ttrpc::socket_path(first.out)));
  for (int i = 0; i < 2; ++i) {
    Cmd del = shim("delete", "sandbox");
    ASSERT_EQ(del.code, 0) << del.describe();
    containerd::task::v2::DeleteResponse dresp;
    ASSERT_TRUE(dresp.ParseFromString(del.out));
    EXPECT_EQ(dresp.exit_status(), 137u);
    EXPECT_GT(dresp.exited_at().seconds(), 0);
  }
}

TEST_F(ShimV2, BadFlagsAreRefusedByName) {
  Cmd c = run({kShim, "-bogus", "x", "start"});
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.err.find("unknown flag -bogus"), std::string::npos) << c.err;
  c = run({kShim, "-namespace"});
  EXPECT_NE(c.err.find("flag -namespace needs a value"), std::string::npos) << c.err;
  c = run({kShim, "serve"});
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.err.find("not `serve`"), std::string::npos) << c.err;
}

}  // namespace
}  // namespace veil::clients
