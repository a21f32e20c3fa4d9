#include "linux/sysctl.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "oci/spec.hpp"

using veil::oci::NsType;
using veil::oci::Spec;

namespace {

Spec spec_with(std::initializer_list<NsType> namespaces,
               std::initializer_list<std::pair<const std::string, std::string>> sysctl) {
  Spec s;
  s.linux.namespaces.push_back({NsType::mount, ""});
  for (NsType t : namespaces) s.linux.namespaces.push_back({t, ""});
  s.linux.sysctl = sysctl;
  return s;
}

std::string error_of(const Spec& s) {
  auto r = veil::sysctl::validate(s);
  return r ? std::string("<ok>") : r.error().msg;
}

::testing::AssertionResult Contains(const std::string& haystack, const std::string& needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << haystack << "\" does not contain \"" << needle << "\"";
}

}  // namespace

TEST(Sysctl, EmptyIsValid) {
  EXPECT_EQ(error_of(spec_with({}, {})), "<ok>");
}

TEST(Sysctl, NetNeedsNetworkNamespace) {
  EXPECT_EQ(error_of(spec_with({NsType::network}, {{"net.ipv4.ip_forward", "1"}})), "<ok>");
  EXPECT_EQ(error_of(spec_with({NsType::network}, {{"net.core.somaxconn", "1024"}})), "<ok>");

  std::string err = error_of(spec_with({NsType::ipc, NsType::uts}, {{"net.ipv4.ip_forward", "1"}}));
  EXPECT_TRUE(Contains(err, "linux.sysctl[\"net.ipv4.ip_forward\"]"));
  EXPECT_TRUE(Contains(err, "network namespace"));
}

TEST(Sysctl, IpcKeysNeedIpcNamespace) {
  for (const char* key : {"kernel.shmmax", "kernel.shmall", "kernel.shmmni", "kernel.msgmax",
                          "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shm_rmid_forced",
                          "fs.mqueue.msg_max", "fs.mqueue.queues_max"}) {
    EXPECT_EQ(error_of(spec_with({NsType::ipc}, {{key, "1"}})), "<ok>") << key;
    std::string err = error_of(spec_with({NsType::network, NsType::uts}, {{key, "1"}}));
    EXPECT_TRUE(Contains(err, std::string("linux.sysctl[\"") + key + "\"]"));
    EXPECT_TRUE(Contains(err, "IPC namespace"));
  }
}

TEST(Sysctl, UtsKeysNeedUtsNamespace) {
  for (const char* key : {"kernel.hostname", "kernel.domainname"}) {
    EXPECT_EQ(error_of(spec_with({NsType::uts}, {{key, "box"}})), "<ok>") << key;
    std::string err = error_of(spec_with({NsType::network, NsType::ipc}, {{key, "box"}}));
    EXPECT_TRUE(Contains(err, std::string("linux.sysctl[\"") + key + "\"]"));
    EXPECT_TRUE(Contains(err, "UTS namespace"));
  }
}

TEST(Sysctl, NonNamespacedKeysAlwaysRefused) {
  auto all = {NsType::pid,  NsType::network, NsType::ipc, NsType::uts,
              NsType::user, NsType::cgroup,  NsType::time};
  for (const char* key : {"kernel.panic", "vm.swappiness", "kernel.pid_max", "fs.file-max",
                          "kernel.shm_next_id_not_really", "kernel.semx"}) {
    Spec s = spec_with(all, {{key, "1"}});
    std::string err = error_of(s);
    EXPECT_TRUE(Contains(err, std::string("linux.sysctl[\"") + key + "\"]"));
    EXPECT_TRUE(Contains(err, "not a namespaced sysctl"));
  }
}

TEST(Sysctl, JoinedNamespaceCounts) {
  // A namespace joined by path is the container's own, not the host's.
  Spec s;
  s.linux.namespaces = {{NsType::mount, ""}, {NsType::network, "/proc/1234/ns/net"}};
  s.linux.sysctl = {{"net.ipv4.ip_forward", "1"}};
  EXPECT_EQ(error_of(s), "<ok>");
}

TEST(Sysctl, InvalidNames) {
  for (const char* key : {"net/../../kernel/panic", "net.ipv4..conf", "net.ipv4/ip_forward"}) {
    std::string err = error_of(spec_with({NsType::network}, {{key, "1"}}));
    EXPECT_TRUE(Contains(err, std::string("linux.sysctl[\"") + key + "\"]"));
    EXPECT_TRUE(Contains(err, "invalid sysctl name"));
  }
}

TEST(Sysctl, FirstBadKeyFailsTheWholeSet) {
  Spec s = spec_with({NsType::network, NsType::ipc},
                     {{"net.ipv4.ip_forward", "1"}, {"kernel.shmmax", "1"}, {"kernel.panic", "1"}});
  std::string err = error_of(s);
  EXPECT_TRUE(Contains(err, "linux.sysctl[\"kernel.panic\"]"));
}
