#include "linux/mount_options.hpp"

#include <gtest/gtest.h>
#include <linux/mount.h>
#include <sys/mount.h>

#include <string>
#include <vector>

using veil::mounts::MountOptions;
using veil::mounts::parse_mount_options;
using veil::mounts::parse_propagation;

namespace {

MountOptions parse_ok(const std::vector<std::string>& opts) {
  auto r = parse_mount_options(opts);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().msg);
  return r ? *r : MountOptions{};
}

}  // namespace

TEST(MountOptions, EmptyListIsAllZero) {
  auto o = parse_ok({});
  EXPECT_EQ(o.flags, 0UL);
  EXPECT_EQ(o.clear, 0UL);
  EXPECT_TRUE(o.propagation.empty());
  EXPECT_EQ(o.attr_set, 0U);
  EXPECT_EQ(o.attr_clr, 0U);
  EXPECT_FALSE(o.tmpcopyup);
  EXPECT_EQ(o.data, "");
  EXPECT_FALSE(o.is_bind());
}

TEST(MountOptions, SettingFlags) {
  auto o = parse_ok({"ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "sync", "dirsync",
                     "mand", "silent", "strictatime", "relatime", "remount"});
  EXPECT_EQ(o.flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |
                         MS_SYNCHRONOUS | MS_DIRSYNC | MS_MANDLOCK | MS_SILENT | MS_STRICTATIME |
                         MS_RELATIME | MS_REMOUNT);
  EXPECT_EQ(o.clear, 0UL);
  EXPECT_EQ(o.data, "");
}

TEST(MountOptions, ClearingFlags) {
  auto o = parse_ok({"rw", "suid", "dev", "exec", "atime", "diratime", "async", "nomand", "loud",
                     "nostrictatime", "norelatime"});
  EXPECT_EQ(o.flags, 0UL);
  EXPECT_EQ(o.clear, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |
                         MS_SYNCHRONOUS | MS_MANDLOCK | MS_SILENT | MS_STRICTATIME | MS_RELATIME);
}

TEST(MountOptions, LaterOptionWins) {
  auto ro_rw = parse_ok({"ro", "rw"});
  EXPECT_EQ(ro_rw.flags & MS_RDONLY, 0UL);
  EXPECT_EQ(ro_rw.clear & MS_RDONLY, static_cast<unsigned long>(MS_RDONLY));

  auto rw_ro = parse_ok({"rw", "ro"});
  EXPECT_EQ(rw_ro.flags & MS_RDONLY, static_cast<unsigned long>(MS_RDONLY));
  EXPECT_EQ(rw_ro.clear & MS_RDONLY, 0UL);

  auto suid = parse_ok({"nosuid", "nodev", "suid"});
  EXPECT_EQ(suid.flags, static_cast<unsigned long>(MS_NODEV));
  EXPECT_EQ(suid.clear, static_cast<unsigned long>(MS_NOSUID));
}

TEST(MountOptions, DefaultsChangesNothing) {
  auto o = parse_ok({"defaults"});
  EXPECT_EQ(o.flags, 0UL);
  EXPECT_EQ(o.clear, 0UL);
  EXPECT_EQ(o.data, "");
}

TEST(MountOptions, BindAndRbind) {
  auto bind = parse_ok({"bind"});
  EXPECT_EQ(bind.flags, static_cast<unsigned long>(MS_BIND));
  EXPECT_TRUE(bind.is_bind());

  auto rbind = parse_ok({"rbind"});
  EXPECT_EQ(rbind.flags, static_cast<unsigned long>(MS_BIND | MS_REC));
  EXPECT_TRUE(rbind.is_bind());

  auto rbind_ro = parse_ok({"rbind", "ro"});
  EXPECT_EQ(rbind_ro.flags, static_cast<unsigned long>(MS_BIND | MS_REC | MS_RDONLY));
}

TEST(MountOptions, PropagationKeptInOrder) {
  auto o = parse_ok(
      {"rprivate", "shared", "rslave", "unbindable", "private", "rshared", "slave", "runbindable"});
  std::vector<unsigned long> want = {
      MS_PRIVATE | MS_REC, MS_SHARED,          MS_SLAVE | MS_REC, MS_UNBINDABLE,
      MS_PRIVATE,          MS_SHARED | MS_REC, MS_SLAVE,          MS_UNBINDABLE | MS_REC,
  };
  EXPECT_EQ(o.propagation, want);
  EXPECT_EQ(o.flags, 0UL);
  EXPECT_EQ(o.data, "");
}

TEST(MountOptions, PropagationMixedWithFlags) {
  auto o = parse_ok({"rbind", "rslave", "ro", "rprivate"});
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_BIND | MS_REC | MS_RDONLY));
  std::vector<unsigned long> want = {MS_SLAVE | MS_REC, MS_PRIVATE | MS_REC};
  EXPECT_EQ(o.propagation, want);
}

TEST(MountOptions, RecursiveAttributesSet) {
  auto o = parse_ok({"rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow"});
  EXPECT_EQ(o.attr_set, static_cast<uint64_t>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                              MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                                              MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW));
  EXPECT_EQ(o.attr_clr, 0U);
  // Recursive attributes are not mount(2) flags.
  EXPECT_EQ(o.flags, 0UL);
  EXPECT_EQ(o.clear, 0UL);
}

TEST(MountOptions, RecursiveAttributesCleared) {
  auto o = parse_ok({"rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"});
  EXPECT_EQ(o.attr_set, 0U);
  EXPECT_EQ(o.attr_clr, static_cast<uint64_t>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                              MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                                              MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOSYMFOLLOW));
}

TEST(MountOptions, RecursiveAttributesLaterWins) {
  auto o = parse_ok({"rro", "rrw"});
  EXPECT_EQ(o.attr_set & MOUNT_ATTR_RDONLY, 0U);
  EXPECT_EQ(o.attr_clr & MOUNT_ATTR_RDONLY, static_cast<uint64_t>(MOUNT_ATTR_RDONLY));

  auto o2 = parse_ok({"rrw", "rro"});
  EXPECT_EQ(o2.attr_set & MOUNT_ATTR_RDONLY, static_cast<uint64_t>(MOUNT_ATTR_RDONLY));
  EXPECT_EQ(o2.attr_clr & MOUNT_ATTR_RDONLY, 0U);
}

TEST(MountOptions, RecursiveAtimeAttributes) {
  auto o = parse_ok({"rnoatime"});
  EXPECT_EQ(o.attr_set, static_cast<uint64_t>(MOUNT_ATTR_NOATIME));
  auto r = parse_ok({"rrelatime"});
  EXPECT_EQ(r.attr_set, static_cast<uint64_t>(MOUNT_ATTR_RELATIME));
  auto s = parse_ok({"rstrictatime"});
  EXPECT_EQ(s.attr_set, static_cast<uint64_t>(MOUNT_ATTR_STRICTATIME));
  auto a = parse_ok({"ratime"});
  EXPECT_EQ(a.attr_clr, static_cast<uint64_t>(MOUNT_ATTR_NOATIME));
}

TEST(MountOptions, Tmpcopyup) {
  auto o = parse_ok({"tmpcopyup", "mode=755"});
  EXPECT_TRUE(o.tmpcopyup);
  EXPECT_EQ(o.data, "mode=755");
  EXPECT_EQ(o.flags, 0UL);
}

TEST(MountOptions, UnknownOptionsBecomeData) {
  auto o = parse_ok({"size=64m", "nosuid", "mode=1777", "nr_inodes=1k", "ro"});
  EXPECT_EQ(o.data, "size=64m,mode=1777,nr_inodes=1k");
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID | MS_RDONLY));

  auto one = parse_ok({"newinstance"});
  EXPECT_EQ(one.data, "newinstance");
  EXPECT_EQ(one.flags, 0UL);
}

TEST(MountOptions, IdmappedMountsAreRefused) {
  for (std::string opt : {"idmap", "ridmap", "uidmap=0:1000:1", "gidmap=0:1000:1"}) {
    auto r = parse_mount_options({"bind", opt});
    ASSERT_FALSE(r.has_value()) << opt;
    EXPECT_NE(r.error().msg.find("idmapped"), std::string::npos) << r.error().msg;
    EXPECT_NE(r.error().msg.find(opt), std::string::npos) << r.error().msg;
  }
}

TEST(MountPropagation, EmptyIsZero) {
  auto r = parse_propagation("");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 0UL);
}

TEST(MountPropagation, KnownValues) {
  struct Case {
    const char* name;
    unsigned long flag;
  };
  const Case cases[] = {
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  for (const auto& c : cases) {
    auto r = parse_propagation(c.name);
    ASSERT_TRUE(r.has_value()) << c.name;
    EXPECT_EQ(*r, c.flag) << c.name;
  }
}

TEST(MountPropagation, UnknownIsAnError) {
  for (std::string s : {"bogus", "ro", "rro", "RPRIVATE", " private"}) {
    auto r = parse_propagation(s);
    ASSERT_FALSE(r.has_value()) << s;
    EXPECT_NE(r.error().msg.find("\"" + s + "\""), std::string::npos) << r.error().msg;
  }
}
