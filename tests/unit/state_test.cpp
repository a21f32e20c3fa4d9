#include "runtime/state.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/file.hpp"
#include "temp_dir.hpp"

using nlohmann::json;
using veil::runtime::ContainerDir;
using veil::runtime::State;
using veil::runtime::StateStore;
using veil::runtime::Status;
using veil::runtime::validate_id;
using veil_test::TempDir;

namespace {

State sample_state() {
  State s;
  s.oci_version = "1.2.0";
  s.id = "c1";
  s.pid = 4242;
  s.pid_start_time = 123456789012ULL;
  s.bundle = "/run/bundles/c1";
  s.rootfs = "/run/bundles/c1/rootfs";
  s.created = "2024-05-01T10:20:30.123456789Z";
  s.owner = "root";
  s.annotations = {{"io.kubernetes.cri.sandbox-id", "abc"}, {"k", "v"}};
  s.creating = true;
  s.cgroup_dirs = {"/sys/fs/cgroup/memory/veil/c1", "/sys/fs/cgroup/unified/veil/c1"};
  s.devices.have_backend = true;
  s.devices.backend = veil::cgroups::DeviceBackend::bpf;
  s.devices.rules = {{false, 'a', -1, -1, 7}, {true, 'c', 10, 200, 6}};
  s.devices.extras = {{true, 'b', 8, -1, 7}};
  return s;
}

void expect_same(const State& a, const State& b) {
  EXPECT_EQ(a.oci_version, b.oci_version);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.pid_start_time, b.pid_start_time);
  EXPECT_EQ(a.bundle, b.bundle);
  EXPECT_EQ(a.rootfs, b.rootfs);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.owner, b.owner);
  EXPECT_EQ(a.annotations, b.annotations);
  EXPECT_EQ(a.creating, b.creating);
  EXPECT_EQ(a.cgroup_dirs, b.cgroup_dirs);
  EXPECT_EQ(a.devices.have_backend, b.devices.have_backend);
  EXPECT_EQ(a.devices.backend, b.devices.backend);
  EXPECT_EQ(a.devices.rules, b.devices.rules);
  EXPECT_EQ(a.devices.extras, b.devices.extras);
}

// Waits up to timeout_ms for fd to become readable.
bool readable_within(int fd, int timeout_ms) {
  struct pollfd p {
    fd, POLLIN, 0
  };
  return ::poll(&p, 1, timeout_ms) == 1;
}

// Result of a forked child: 'o' opened, 'e' error (with message following), nothing yet.
struct Child {
  pid_t pid = -1;
  int rfd = -1;
};

// Forks a child that closes inherited_lock_fd (as the runtime's forked children do), then opens
// `id` in `root` and reports "o" or "e<msg>" on a pipe, then exits.
Child open_in_child(const std::string& root, const std::string& id, bool exclusive,
                    int inherited_lock_fd) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (inherited_lock_fd >= 0) ::close(inherited_lock_fd);
    StateStore store(root);
    auto d = store.open(id, exclusive);
    std::string msg = d ? "o" : "e" + d.error().msg;
    (void)!::write(p[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(p[1]);
  return {pid, p[0]};
}

std::string read_all(int fd) {
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void reap(Child& c) {
  if (c.rfd >= 0) ::close(c.rfd);
  if (c.pid > 0) {
    int st = 0;
    ::waitpid(c.pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
}

}  // namespace

TEST(ValidateId, Good) {
  for (const std::string& id :
       std::vector<std::string>{"a", "abc", "ABC-def_012", "x.y", "a+b", "...", ".a", "a..b",
                                "0123456789abcdef0123456789abcdef", std::string(1024, 'x')})
    EXPECT_TRUE(validate_id(id).has_value()) << id;
}

TEST(ValidateId, Bad) {
  for (const std::string& id :
       std::vector<std::string>{"", ".", "..", "a/b", "/abs", "../x", "a b", "a:b", "a\\b", "a\nb",
                                "é", "a*", std::string(1025, 'x'), std::string("a\0b", 3)})
    EXPECT_FALSE(validate_id(id).has_value()) << id;
}

TEST(ValidateId, Messages) {
  auto empty = validate_id("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().msg.find("empty"), std::string::npos) << empty.error().msg;

  auto longer = validate_id(std::string(1025, 'x'));
  ASSERT_FALSE(longer.has_value());
  EXPECT_NE(longer.error().msg.find("1024"), std::string::npos) << longer.error().msg;

  auto slash = validate_id("a/b");
  ASSERT_FALSE(slash.has_value());
  EXPECT_NE(slash.error().msg.find("\"a/b\""), std::string::npos) << slash.error().msg;
}

TEST(StateJson, RoundTrip) {
  State s = sample_state();
  auto back = State::from_json(s.to_json());
  ASSERT_TRUE(back.has_value()) << back.error().msg;
  expect_same(s, *back);

  // Through text, as it is stored.
  auto text_back = State::from_json(json::parse(s.to_json().dump()));
  ASSERT_TRUE(text_back.has_value()) << text_back.error().msg;
  expect_same(s, *text_back);
}

TEST(StateJson, RoundTripEmptyFields) {
  State s;
  s.oci_version = "1.0.2";
  s.id = "empty";
  auto back = State::from_json(s.to_json());
  ASSERT_TRUE(back.has_value()) << back.error().msg;
  expect_same(s, *back);
}

TEST(StateJson, StoredFormHasNoStatus) {
  // Status is derived, never stored.
  json j = sample_state().to_json();
  EXPECT_FALSE(j.contains("status"));
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["veil"]["pidStartTime"], 123456789012ULL);
}

TEST(StateJson, MissingFieldsAreCorrupt) {
  json j = sample_state().to_json();
  for (const char* key : {"id", "pid", "bundle", "veil"}) {
    json broken = j;
    broken.erase(key);
    auto r = State::from_json(broken);
    ASSERT_FALSE(r.has_value()) << key;
    EXPECT_NE(r.error().msg.find("corrupt"), std::string::npos) << r.error().msg;
  }
  json wrong_type = j;
  wrong_type["pid"] = "not a number";
  auto r = State::from_json(wrong_type);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("corrupt"), std::string::npos) << r.error().msg;

  auto not_object = State::from_json(json::array({1, 2}));
  ASSERT_FALSE(not_object.has_value());
  EXPECT_NE(not_object.error().msg.find("corrupt"), std::string::npos);
}

// Found by fuzz/state_fuzz.cpp: numbers that are not integers of the field's range were cast
// (undefined behaviour for 2.2e82, a silent truncation for 4242.5 or 2^40 as a pid).
TEST(StateJson, NumbersOutOfRangeAreCorrupt) {
  State s = sample_state();
  s.poststart = {{"/bin/true", {}, {}, 5}};
  const std::vector<std::pair<json::json_pointer, json>> bad = {
      {json::json_pointer("/veil/pidStartTime"), 2.2e82},
      {json::json_pointer("/veil/pidStartTime"), -1},
      {json::json_pointer("/pid"), 4242.5},
      {json::json_pointer("/pid"), 1e10},
      {json::json_pointer("/pid"), int64_t{1} << 40},
      {json::json_pointer("/veil/poststart/0/timeout"), 1e300},
  };
  for (const auto& [ptr, value] : bad) {
    json j = s.to_json();
    ASSERT_TRUE(j.contains(ptr)) << ptr.to_string();
    j[ptr] = value;
    auto r = State::from_json(j);
    ASSERT_FALSE(r) << ptr.to_string() << " = " << value.dump();
    EXPECT_NE(r.error().msg.find("corrupt state file"), std::string::npos) << r.error().msg;
  }
  json j = s.to_json();
  j["veil"]["pidStartTime"] = UINT64_MAX;
  auto ok = State::from_json(j);
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(ok->pid_start_time, UINT64_MAX);
}

TEST(StatePublicJson, Content) {
  State s = sample_state();
  json j = s.public_json(Status::running);
  EXPECT_EQ(j["ociVersion"], "1.2.0");
  EXPECT_EQ(j["id"], "c1");
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["bundle"], "/run/bundles/c1");
  EXPECT_EQ(j["rootfs"], "/run/bundles/c1/rootfs");
  EXPECT_EQ(j["created"], "2024-05-01T10:20:30.123456789Z");
  EXPECT_EQ(j["owner"], "root");
  ASSERT_TRUE(j["annotations"].is_object());
  EXPECT_EQ(j["annotations"]["k"], "v");
  EXPECT_EQ(j["annotations"]["io.kubernetes.cri.sandbox-id"], "abc");
  // Internal fields stay internal.
  EXPECT_FALSE(j.contains("veil"));
}

TEST(StatePublicJson, StatusStrings) {
  State s = sample_state();
  EXPECT_EQ(s.public_json(Status::creating)["status"], "creating");
  EXPECT_EQ(s.public_json(Status::created)["status"], "created");
  EXPECT_EQ(s.public_json(Status::running)["status"], "running");
  EXPECT_EQ(s.public_json(Status::paused)["status"], "paused");
  EXPECT_EQ(s.public_json(Status::stopped)["status"], "stopped");
  EXPECT_STREQ(veil::runtime::status_name(Status::created), "created");
}

TEST(StatePublicJson, PidZeroWhenStopped) {
  State s = sample_state();
  EXPECT_EQ(s.public_json(Status::stopped)["pid"], 0);
  EXPECT_EQ(s.public_json(Status::created)["pid"], 4242);
}

TEST(StatePublicJson, EmptyAnnotationsAreAnObject) {
  State s = sample_state();
  s.annotations.clear();
  json j = s.public_json(Status::created);
  ASSERT_TRUE(j.contains("annotations"));
  EXPECT_TRUE(j["annotations"].is_object());
  EXPECT_TRUE(j["annotations"].empty());
  EXPECT_NE(j.dump().find("\"annotations\":{}"), std::string::npos) << j.dump();
}

TEST(StateStore, CreateSaveLoad) {
  TempDir tmp;
  StateStore store(tmp / "root");  // does not exist yet: create makes it
  auto d = store.create("c1");
  ASSERT_TRUE(d.has_value()) << d.error().msg;
  EXPECT_EQ(d->id(), "c1");
  EXPECT_EQ(d->path(), tmp / "root/c1");
  EXPECT_EQ(d->fifo_path(), tmp / "root/c1/exec.fifo");
  EXPECT_GE(d->lock_fd(), 0);
  struct stat st {};
  ASSERT_EQ(::stat(d->path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700U);

  State s = sample_state();
  ASSERT_TRUE(d->save(s).has_value());
  EXPECT_TRUE(veil::path_exists(d->path() + "/state.json"));
  EXPECT_FALSE(veil::path_exists(d->path() + "/state.json.tmp"));
  auto loaded = d->load();
  ASSERT_TRUE(loaded.has_value()) << loaded.error().msg;
  expect_same(s, *loaded);

  // Saving again replaces the content.
  s.pid = 7;
  s.creating = false;
  ASSERT_TRUE(d->save(s).has_value());
  auto again = d->load();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->pid, 7);
  EXPECT_FALSE(again->creating);
}

TEST(StateStore, CreateRejectsBadIds) {
  TempDir tmp;
  StateStore store(tmp.path());
  for (std::string id : {"", "..", "a/b", "../escape"}) {
    auto d = store.create(id);
    EXPECT_FALSE(d.has_value()) << id;
  }
  EXPECT_FALSE(veil::path_exists(tmp / "../escape"));
  auto o = store.open("../x", false);
  EXPECT_FALSE(o.has_value());
}

TEST(StateStore, DuplicateCreate) {
  TempDir tmp;
  StateStore store(tmp.path());
  auto first = store.create("dup");
  ASSERT_TRUE(first.has_value()) << first.error().msg;
  auto second = store.create("dup");
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().msg.find("already exists"), std::string::npos) << second.error().msg;
  EXPECT_NE(second.error().msg.find("\"dup\""), std::string::npos) << second.error().msg;
  // The failed create did not disturb the first one.
  EXPECT_TRUE(veil::path_exists(tmp / "dup"));
}

TEST(StateStore, OpenUnknown) {
  TempDir tmp;
  StateStore store(tmp.path());
  auto d = store.open("nope", false);
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().msg.find("does not exist"), std::string::npos) << d.error().msg;
  EXPECT_NE(d.error().msg.find("\"nope\""), std::string::npos) << d.error().msg;
  auto e = store.open("nope", true);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().msg.find("does not exist"), std::string::npos) << e.error().msg;

  // A root that does not exist at all.
  StateStore missing(tmp / "missing-root");
  auto m = missing.open("c1", false);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().msg.find("does not exist"), std::string::npos) << m.error().msg;
}

TEST(StateStore, OpenExisting) {
  TempDir tmp;
  StateStore store(tmp.path());
  {
    auto d = store.create("c1");
    ASSERT_TRUE(d.has_value());
    ASSERT_TRUE(d->save(sample_state()).has_value());
  }  // lock released
  auto shared1 = store.open("c1", false);
  ASSERT_TRUE(shared1.has_value()) << shared1.error().msg;
  // Shared locks do not exclude each other, even in one process.
  auto shared2 = store.open("c1", false);
  ASSERT_TRUE(shared2.has_value()) << shared2.error().msg;
  auto s = shared2->load();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->id, "c1");
}

TEST(StateStore, ListIsSortedAndSkipsIncomplete) {
  TempDir tmp;
  StateStore store(tmp.path());
  EXPECT_TRUE(store.list().empty());
  for (const char* id : {"zeta", "alpha", "mid"}) {
    auto d = store.create(id);
    ASSERT_TRUE(d.has_value());
    State s = sample_state();
    s.id = id;
    ASSERT_TRUE(d->save(s).has_value());
  }
  // A directory without state.json (create still in its first steps) and a stray file.
  auto bare = store.create("bare");
  ASSERT_TRUE(bare.has_value());
  veil_test::write_text(tmp / "stray-file", "x");
  ASSERT_EQ(::mkdir((tmp / "bad id").c_str(), 0700), 0);
  veil_test::write_text(tmp / "bad id/state.json", "{}");

  std::vector<std::string> want = {"alpha", "mid", "zeta"};
  EXPECT_EQ(store.list(), want);

  StateStore missing(tmp / "missing-root");
  EXPECT_TRUE(missing.list().empty());
}

TEST(StateStore, RemoveDeletesTheDirectory) {
  TempDir tmp;
  StateStore store(tmp.path());
  auto d = store.create("gone");
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->save(sample_state()).has_value());
  ASSERT_EQ(::mkfifo(d->fifo_path().c_str(), 0600), 0);
  ASSERT_TRUE(d->remove().has_value());
  EXPECT_FALSE(veil::path_exists(tmp / "gone"));
  EXPECT_TRUE(store.list().empty());
  auto o = store.open("gone", false);
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.error().msg.find("does not exist"), std::string::npos) << o.error().msg;
  // The id can be reused.
  auto again = store.create("gone");
  EXPECT_TRUE(again.has_value()) << again.error().msg;
}

TEST(StateStore, CorruptStateFile) {
  TempDir tmp;
  StateStore store(tmp.path());
  auto d = store.create("bad");
  ASSERT_TRUE(d.has_value());
  veil_test::write_text(d->path() + "/state.json", "{\"ociVersion\": \"1.0.2\", trunc");
  auto s = d->load();
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().msg.find("corrupt"), std::string::npos) << s.error().msg;
  EXPECT_NE(s.error().msg.find("\"bad\""), std::string::npos) << s.error().msg;

  // Valid JSON with the wrong shape is corrupt too.
  veil_test::write_text(d->path() + "/state.json", "{\"id\": 5}");
  auto t = d->load();
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().msg.find("corrupt"), std::string::npos) << t.error().msg;

  // Empty file (e.g. a crash without atomic write).
  veil_test::write_text(d->path() + "/state.json", "");
  auto u = d->load();
  ASSERT_FALSE(u.has_value());
  EXPECT_NE(u.error().msg.find("corrupt"), std::string::npos) << u.error().msg;
}

TEST(StateStore, LoadWithoutStateFile) {
  TempDir tmp;
  StateStore store(tmp.path());
  auto d = store.create("nostate");
  ASSERT_TRUE(d.has_value());
  auto s = d->load();
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().msg.find("\"nostate\""), std::string::npos) << s.error().msg;
  EXPECT_EQ(s.error().err, ENOENT);
}

TEST(StateStore, ExclusiveLockBlocksAnotherProcess) {
  TempDir tmp;
  StateStore store(tmp.path());
  auto d = store.create("locked");
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->save(sample_state()).has_value());

  Child excl = open_in_child(tmp.path(), "locked", true, d->lock_fd());
  ASSERT_GT(excl.pid, 0);
  Child shared = open_in_child(tmp.path(), "locked", false, d->lock_fd());
  ASSERT_GT(shared.pid, 0);
  // Both wait while this process holds the exclusive lock.
  EXPECT_FALSE(readable_within(excl.rfd, 300));
  EXPECT_FALSE(readable_within(shared.rfd, 0));

  // Release: dropping the ContainerDir closes the lock fd.
  { ContainerDir released = std::move(*d); }
  ASSERT_TRUE(readable_within(excl.rfd, 10000)) << "exclusive open still blocked";
  ASSERT_TRUE(readable_within(shared.rfd, 10000)) << "shared open still blocked";
  EXPECT_EQ(read_all(excl.rfd), "o");
  EXPECT_EQ(read_all(shared.rfd), "o");
  reap(excl);
  reap(shared);
}

TEST(StateStore, SharedLockBlocksExclusiveOnly) {
  TempDir tmp;
  StateStore store(tmp.path());
  {
    auto d = store.create("c");
    ASSERT_TRUE(d.has_value());
  }
  auto shared = store.open("c", false);
  ASSERT_TRUE(shared.has_value());

  Child other_shared = open_in_child(tmp.path(), "c", false, shared->lock_fd());
  ASSERT_GT(other_shared.pid, 0);
  ASSERT_TRUE(readable_within(other_shared.rfd, 10000)) << "shared open blocked by shared lock";
  EXPECT_EQ(read_all(other_shared.rfd), "o");
  reap(other_shared);

  Child excl = open_in_child(tmp.path(), "c", true, shared->lock_fd());
  ASSERT_GT(excl.pid, 0);
  EXPECT_FALSE(readable_within(excl.rfd, 300));
  { ContainerDir released = std::move(*shared); }
  ASSERT_TRUE(readable_within(excl.rfd, 10000)) << "exclusive open still blocked";
  EXPECT_EQ(read_all(excl.rfd), "o");
  reap(excl);
}

TEST(StateStore, WaiterSeesConcurrentRemove) {
  // A delete that wins the lock removes the directory; whoever waited must not get a handle on
  // the removed directory.
  TempDir tmp;
  StateStore store(tmp.path());
  auto d = store.create("racy");
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->save(sample_state()).has_value());

  Child waiter = open_in_child(tmp.path(), "racy", true, d->lock_fd());
  ASSERT_GT(waiter.pid, 0);
  EXPECT_FALSE(readable_within(waiter.rfd, 300));
  ASSERT_TRUE(d->remove().has_value());
  ASSERT_TRUE(readable_within(waiter.rfd, 10000));
  std::string got = read_all(waiter.rfd);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0], 'e') << got;
  EXPECT_NE(got.find("does not exist"), std::string::npos) << got;
  reap(waiter);
}
