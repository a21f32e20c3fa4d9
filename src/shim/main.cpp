// containerd-shim-veil-v2 (docs/shim.md): containerd's shim v2 for `io.containerd.veil.v2`.
//   start:  prints the pod's socket address, starting the pod's shim when it is not running
//   delete: cleans up after a shim that went away (idempotent), prints a DeleteResponse
//   (the daemon is the forked child of `start`: the task service for the whole pod)
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "shim/address.hpp"
#include "shim/pod.hpp"
#include "shim/publisher.hpp"
#include "shim/task_service.hpp"
#include "task.pb.h"
#include "ttrpc/client.hpp"
#include "vm/net.hpp"

namespace {

using namespace veil;
using nlohmann::json;

struct Flags {
  std::string ns = "default", address, id, bundle, action;
  bool debug = false;
};

// Go's flag syntax: -name value, -name=value, --name value; -debug alone.
Result<Flags> parse(int argc, char** argv) {
  Flags f;
  std::map<std::string, std::string*> with_value{{"namespace", &f.ns},
                                                 {"address", &f.address},
                                                 {"id", &f.id},
                                                 {"bundle", &f.bundle},
                                                 {"publish-binary", nullptr}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.starts_with("-")) {
      f.action = a;
      continue;
    }
    a = a.substr(a.starts_with("--") ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    if (a == "debug") {
      f.debug = true;
      continue;
    }
    if (a == "v" || a == "version") {
      std::printf("containerd-shim-veil-v2 (veil %s)\n", VEIL_VERSION);
      std::exit(0);
    }
    auto it = with_value.find(a);
    if (it == with_value.end()) return fail("unknown flag -" + a);
    if (!has_value) {
      if (i + 1 >= argc) return fail("flag -" + a + " needs a value");
      value = argv[++i];
    }
    if (it->second) *it->second = value;
  }
  return f;
}

std::string state_dir(const Flags& f, const std::string& group) {
  return "/run/veil-shim/" + f.ns + "/" + group;
}

std::string group_for(const Flags& f) {
  auto config = json::parse(read_file("config.json").value_or(""), nullptr, false);
  std::string g = shim::group_of(config);
  return g.empty() ? f.id : g;
}

Result<Fd> listen_at(const std::string& path) {
  VEIL_CHECK(mkdir_all(path.substr(0, path.rfind('/')), 0711));
  ::unlink(path.c_str());
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return fail("socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return fail_errno("bind " + path);
  ::chmod(path.c_str(), 0600);
  if (::listen(s.get(), 64) != 0) return fail_errno("listen " + path);
  return s;
}

// The pod's daemon: the task service on one thread, jobs that must outlive a call (booting the
// VM: QEMU dies with the thread that started it) on the main thread.
[[noreturn]] void serve(Fd listener, const Flags& f, const std::string& dir,
                        const std::string& socket) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  auto on_main = [&](std::function<Result<>()> job) -> Result<> {
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    Result<> result;
    {
      std::lock_guard lock(mu);
      jobs.push_back([&] {
        auto r = job();
        std::lock_guard l(done_mu);
        result = std::move(r);
        done = true;
        done_cv.notify_all();
      });
    }
    cv.notify_all();
    std::unique_lock l(done_mu);
    done_cv.wait(l, [&] { return done; });
    return result;
  };
  const char* ttrpc_address = ::getenv("TTRPC_ADDRESS");
  shim::Publisher events(ttrpc_address ? ttrpc_address : "", f.ns);
  shim::Pod pod(events, dir, on_main);
  ttrpc::Server server;
  auto finish = [&] {
    pod.stop();
    events.flush(2'000);
    ::unlink(socket.c_str());
    (void)remove_all(dir);
    ::_exit(0);
  };
  shim::register_task_service(server, pod, finish);
  // containerd gone while the pod has no container (a create that failed, a crash before the
  // first create): nothing to serve. A running pod waits for containerd to come back.
  // (A connection that comes and goes before any create is `start` of another container of the
  // pod checking that this shim answers.) A shim nobody uses within a minute goes too.
  server.on_disconnect([&] {
    if (pod.used() && pod.empty()) finish();
  });
  std::thread([&] {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    if (!pod.used()) finish();
  }).detach();
  std::thread([&] {
    if (auto r = server.serve(listener.get()); !r) log::error("shim: " + r.error().str());
  }).detach();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !jobs.empty(); });
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    job();
  }
}

int start(const Flags& f) {
  std::string group = group_for(f);
  std::string address = shim::socket_address(f.address, f.ns, group);
  std::string path = ttrpc::socket_path(address);
  // The pod's shim already runs: its address serves this container too.
  if (auto c = ttrpc::dial(address, 0); c) {
    (void)write_file_atomic("address", address);
    std::printf("%s", address.c_str());
    return 0;
  }
  auto listener = listen_at(path);
  if (!listener) {
    std::fprintf(stderr, "containerd-shim-veil-v2: %s\n", listener.error().str().c_str());
    return 1;
  }
  std::string dir = state_dir(f, group);
  if (auto r = mkdir_all(dir, 0700); !r) {
    std::fprintf(stderr, "containerd-shim-veil-v2: %s\n", r.error().str().c_str());
    return 1;
  }
  std::fflush(stdout);
  pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    ::setsid();
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ::dup2(null, 0);
    ::dup2(null, 1);
    // containerd reads the bundle's `log` fifo into its own log; /dev/null if nobody does.
    int log = ::open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ::dup2(log >= 0 ? log : null, 2);
    if (log >= 0) ::fcntl(2, F_SETFL, ::fcntl(2, F_GETFL) & ~O_NONBLOCK);
    ::signal(SIGPIPE, SIG_IGN);
    serve(std::move(*listener), f, dir, path);
  }
  (void)write_file_atomic("address", address);
  std::printf("%s", address.c_str());
  return 0;
}

// After the shim went away (or never started): nothing of this container may be left. Safe to
// run any number of times.
int remove_leftovers(const Flags& f) {
  std::string bundle = f.bundle.empty() ? "." : f.bundle;
  if (::chdir(bundle.c_str()) != 0) {
    // Nothing left to clean: the bundle is gone already.
  }
  std::string group = group_for(f);
  std::string address = shim::socket_address(f.address, f.ns, group);
  ::umount2("rootfs", MNT_DETACH);
  bool alive = static_cast<bool>(ttrpc::dial(address, 0));
  if (!alive) {
    std::string dir = state_dir(f, group);
    auto net = json::parse(read_file(dir + "/vm/net.json").value_or(""), nullptr, false);
    if (net.is_object())
      vm::unplumb_in(net.value("netns", std::string()), net.value("ifname", std::string()));
    (void)remove_all(dir);
    ::unlink(ttrpc::socket_path(address).c_str());
  }
  containerd::task::v2::DeleteResponse resp;
  resp.set_pid(0);
  resp.set_exit_status(128 + SIGKILL);
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  resp.mutable_exited_at()->set_seconds(now.tv_sec);
  resp.mutable_exited_at()->set_nanos(static_cast<int>(now.tv_nsec));
  std::string out = resp.SerializeAsString();
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto f = parse(argc, argv);
  if (!f) {
    std::fprintf(stderr, "containerd-shim-veil-v2: %s\n", f.error().str().c_str());
    return 2;
  }
  // containerd copies the shim's stderr (the bundle's `log` fifo) into its own log;
  // VEIL_SHIM_LOG names a file instead (debugging a shim that containerd runs).
  const char* to = ::getenv("VEIL_SHIM_LOG");
  // (No file of its own otherwise: warnings go to stderr. An fd opened on `start`'s stderr would
  // be inherited by the daemon and keep containerd waiting for `start`'s output to end.)
  log::configure({to && *to ? to : "", log::Format::text, f->debug || (to && *to)});
  if (f->action == "start") return start(*f);
  if (f->action == "delete") return remove_leftovers(*f);
  std::fprintf(stderr,
               "containerd-shim-veil-v2: containerd starts this shim (`start` or `delete`)%s\n",
               f->action.empty() ? "" : (", not `" + f->action + "`").c_str());
  return 2;
}
