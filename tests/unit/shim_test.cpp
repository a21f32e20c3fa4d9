// The shim v2's pure parts: containerd's socket address convention, the pod grouping annotation,
// and runc's stats object as containerd's cgroups v2 Metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "metrics.pb.h"
#include "shim/address.hpp"
#include "shim/metrics.hpp"

namespace veil::shim {
namespace {

using nlohmann::json;

TEST(ShimAddress, IsTheSha256OfAddressNamespaceAndGroupUnderRunContainerdS) {
  // printf %s /run/containerd/containerd.sock/k8s.io/abc | sha256sum
  EXPECT_EQ(socket_address("/run/containerd/containerd.sock", "k8s.io", "abc"),
            "unix:///run/containerd/s/"
            "a99a1752d3a0fadfb1f869026f16760475df03a572e20f4ccea9e6c1e5470b72");
}

TEST(ShimAddress, APodsContainersShareTheSandboxGroup) {
  json sandbox = {{"annotations",
                   {{"io.kubernetes.cri.container-type", "sandbox"},
                    {"io.kubernetes.cri.sandbox-id", "pod1"}}}};
  json app = {{"annotations",
               {{"io.kubernetes.cri.container-type", "container"},
                {"io.kubernetes.cri.sandbox-id", "pod1"}}}};
  EXPECT_EQ(group_of(sandbox), "pod1");
  EXPECT_EQ(group_of(app), "pod1");
  EXPECT_EQ(group_of(json{{"annotations", {{"io.containerd.runc.v2.group", "g"}}}}), "g");
  EXPECT_EQ(group_of(json::object()), "");  // `ctr run`: the container is its own group
}

TEST(ShimMetrics, RuncStatsBecomeCgroupsV2Metrics) {
  json stats = {
      {"cpu", {{"usage", {{"total", 5'000'000}, {"user", 3'000'000}, {"kernel", 2'000'000}}}}},
      {"memory",
       {{"usage", {{"usage", 40u << 20}, {"limit", 64u << 20}, {"max", 41u << 20}}},
        {"raw", {{"inactive_file", 1u << 20}, {"anon", 30u << 20}}}}},
      {"pids", {{"current", 3}, {"limit", 100}}}};
  io::containerd::cgroups::v2::Metrics m;
  ASSERT_TRUE(m.ParseFromString(metrics_from_stats(stats)));
  EXPECT_EQ(m.cpu().usage_usec(), 5000u);
  EXPECT_EQ(m.cpu().user_usec(), 3000u);
  EXPECT_EQ(m.memory().usage(), 40u << 20);
  EXPECT_EQ(m.memory().usage_limit(), 64u << 20);
  EXPECT_EQ(m.memory().inactive_file(), 1u << 20);  // the CRI's working set is usage - this
  EXPECT_EQ(m.memory().anon(), 30u << 20);
  EXPECT_EQ(m.pids().current(), 3u);
  EXPECT_EQ(std::string(kMetricsType), "io.containerd.cgroups.v2.Metrics");
}

}  // namespace
}  // namespace veil::shim
