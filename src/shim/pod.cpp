#include "shim/pod.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "events.pb.h"
#include "linux/mount_options.hpp"
#include "runtime/microvm/guest_guard.hpp"
#include "runtime/microvm/guest_start.hpp"
#include "runtime/secrets_fetch.hpp"
#include "shim/pod_config.hpp"
#include "shim/stdio.hpp"
#include "vm/reports.hpp"

namespace veil::shim {

using nlohmann::json;
using vm::FrameType;

namespace {

constexpr int kSetupMs = 60'000;
constexpr int kCallMs = 15'000;

int64_t now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void set_time(google::protobuf::Timestamp* t, int64_t ns) {
  t->set_seconds(ns / 1'000'000'000);
  t->set_nanos(static_cast<int>(ns % 1'000'000'000));
}

std::unexpected<Error> coded(std::string msg, int code) {
  return std::unexpected(Error{std::move(msg), code});
}

// CreateTaskRequest.rootfs onto <bundle>/rootfs, as the runc shim does.
Result<> mount_rootfs(const std::string& target, const std::vector<RootfsMount>& mounts) {
  size_t done = 0;
  auto undo = [&](Error e) -> Result<> {
    for (; done > 0; --done) ::umount2(target.c_str(), MNT_DETACH);  // nothing half-mounted stays
    return std::unexpected(std::move(e));
  };
  for (const auto& m : mounts) {
    auto o = mounts::parse_mount_options(m.options);
    if (!o) return undo(o.error());
    unsigned long flags = o->flags;
    if (m.type == "bind" || o->is_bind()) flags |= MS_BIND;
    if (::mount(m.source.c_str(), target.c_str(), m.type.c_str(), flags,
                o->data.empty() ? nullptr : o->data.c_str()) != 0)
      return undo(Error{"mount the rootfs (" + m.type + " " + m.source + ") on " + target, errno});
    ++done;
  }
  return {};
}

}  // namespace

Result<Pod::Proc*> Pod::find(const std::string& id, const std::string& exec_id) {
  auto it = ctrs_.find(id);
  if (it == ctrs_.end()) return coded("container " + id + ": not found", ENOENT);
  if (exec_id.empty()) return &it->second.init;
  auto e = it->second.execs.find(exec_id);
  if (e == it->second.execs.end())
    return coded("process " + exec_id + " of container " + id + ": not found", ENOENT);
  return &e->second;
}

Result<uint32_t> Pod::agent_id_of(const std::string& id, const std::string& exec_id) {
  std::lock_guard lock(mu_);
  return VEIL_TRY(find(id, exec_id))->agent_id;
}

Result<uint32_t> Pod::create(const std::string& id, const std::string& bundle,
                             const std::vector<RootfsMount>& rootfs, const IoPaths& io) {
  std::string config_text = read_file(bundle + "/config.json").value_or("");
  auto config = json::parse(config_text, nullptr, false);
  if (!config.is_object()) return fail(bundle + "/config.json: not a JSON object");
  used_ = true;
  bool sandbox = config.contains("annotations") && config["annotations"].is_object() &&
                 config["annotations"].value("io.kubernetes.cri.container-type", "") == "sandbox";
  uint32_t agent_id;
  int slot = 0;
  {
    std::lock_guard lock(mu_);
    if (ctrs_.contains(id)) return coded("container " + id + ": already exists", EEXIST);
    if (!vm_started_ && !ctrs_.empty())
      return coded("the pod's VM is being started by another container", EBUSY);
    if (vm_started_ || !ctrs_.empty()) {
      if (sandbox) return coded("this pod already has its sandbox", EEXIST);
      for (int i = 1; i <= kPodSlots && !slot; ++i)
        if (!slot_used_[i]) slot = i;
      if (!slot)
        return coded(
            strprintf("a pod VM runs at most %d containers besides its sandbox", kPodSlots), EBUSY);
      slot_used_[slot] = true;
    }
    agent_id = next_agent_id_++;
    Ctr& c = ctrs_[id];
    c.id = id;
    c.bundle = bundle;
    c.sandbox = slot == 0;
    c.slot = slot;
    c.init.agent_id = agent_id;
    c.init.info.io = io;
    c.init.info.bundle = bundle;
    by_agent_id_[agent_id] = {id, ""};
  }
  auto undo = [&](Error e) -> Result<uint32_t> {
    std::lock_guard lock(mu_);
    if (auto it = ctrs_.find(id); it != ctrs_.end()) {
      release(it->second);
      ctrs_.erase(it);
    }
    by_agent_id_.erase(agent_id);
    return std::unexpected(std::move(e).wrap("create " + id));
  };
  std::string target = bundle + "/rootfs";
  if (!rootfs.empty()) {
    (void)mkdir_all(target, 0711);
    if (auto r = mount_rootfs(target, rootfs); !r) return undo(r.error());
    std::lock_guard lock(mu_);
    ctrs_[id].rootfs_mounted = true;
  }
  int sandbox_pid;
  {
    std::lock_guard lock(mu_);
    sandbox_pid = slot == 0 ? 0 : sandbox_guest_pid_;
  }
  auto pc = pod_guest_config(id, config, agent_id, sandbox_pid);
  if (!pc) return undo(pc.error());
  for (const auto& w : pc->warnings) log::debug("shim: container " + id + ": " + w);
  // org.veil.guard.policy (a pod annotation reaches every container): enforced in the guest.
  auto guard = runtime::microvm::guest_guard_request(config);
  if (!guard) return undo(guard.error());
  if (!guard->is_null()) pc->request["guard"] = *guard;
  // org.veil.secrets: attested and fetched here as for any veil container (the host's evidence,
  // the bundle measured as given); the plaintext reaches the guest in the create request only.
  std::map<std::string, std::string> annotations;
  if (config.contains("annotations") && config["annotations"].is_object())
    for (auto& [k, v] : config["annotations"].items())
      if (v.is_string()) annotations[k] = v.get<std::string>();
  if (runtime::wants_secrets(annotations)) {
    auto got = runtime::fetch_secrets(bundle, config_text, target);
    if (!got) return undo(got.error().wrap("secrets (org.veil.secrets)"));
    auto list = runtime::microvm::secrets_request(*got);
    if (!list) return undo(list.error());
    pc->request["secrets"] = std::move(*list);
  }
  // containerd's stdio for the container (a binary:// logger is refused here, before the VM).
  auto out = open_output(io.out), err = open_output(io.err);
  if (!out || !err) return undo(!out ? out.error() : err.error());
  auto image = runtime::microvm::build_image(target);
  if (!image) return undo(image.error().wrap("rootfs image"));
  if (slot == 0) {
    PodVmConfig vc;
    vc.vm_dir = state_dir_ + "/vm";
    vc.netns = pc->netns;
    vc.disk = image->path;
    vc.timeout_ms = kSetupMs;
    auto r = on_main_([&]() -> Result<> {
      return vm_.boot(
          vc, [this](vm::Frame f) { on_frame(std::move(f)); },
          [this](const std::string& why) { on_vm_death(why); });
    });
    if (!r) return undo(r.error().wrap("the pod's microVM"));
    std::lock_guard lock(mu_);
    vm_started_ = true;
  } else {
    if (!vm_.alive()) return undo(Error{"the pod's VM is not running"});
    Fd img(::open(image->path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!img) return undo(Error{"open " + image->path, errno});
    if (auto r = vm_.attach(slot, img.get(), kCallMs); !r) return undo(r.error());
    pc->request["disk"] = vm::slot_serial(slot);
  }
  std::string payload = runtime::microvm::serialize_create(pc->request);
  auto created = vm_.ask(FrameType::create, agent_id, payload, kSetupMs);
  // The guest has the secrets (or refused them): no copy stays in this long-lived process.
  runtime::microvm::wipe_create(pc->request, payload);
  if (!created) return undo(created.error().wrap("in the guest"));
  auto cj = json::parse(created->payload, nullptr, false);
  std::lock_guard lock(mu_);
  Ctr& c = ctrs_[id];
  c.image = std::move(*image);
  if (c.sandbox) sandbox_guest_pid_ = cj.is_object() ? cj.value("pid", 0) : 0;
  c.init.info.pid = static_cast<uint32_t>(::getpid());
  c.init.out = std::make_shared<Fd>(std::move(*out));
  c.init.err = std::make_shared<Fd>(std::move(*err));
  open_stdin(c.init);
  containerd::events::TaskCreate ev;
  ev.set_container_id(id);
  ev.set_bundle(bundle);
  ev.mutable_io()->set_stdin(io.in);
  ev.mutable_io()->set_stdout(io.out);
  ev.mutable_io()->set_stderr(io.err);
  ev.mutable_io()->set_terminal(io.terminal);
  ev.set_pid(c.init.info.pid);
  events_.publish("/tasks/create", ev);
  return c.init.info.pid;
}

void Pod::open_stdin(Proc& p) {
  if (p.info.io.in.empty()) return;
  uint32_t aid = p.agent_id;
  p.stdin_pumped = true;
  pump_stdin(
      p.info.io.in, p.exited, p.stdin_closing,
      [this, aid](std::string_view d) { (void)vm_.send(FrameType::stdin_data, aid, d); },
      [this, aid] { (void)vm_.send(FrameType::stdin_close, aid, {}); });
}

Result<uint32_t> Pod::start(const std::string& id, const std::string& exec_id) {
  uint32_t aid, init_aid;
  {
    std::lock_guard lock(mu_);
    Proc* p = VEIL_TRY(find(id, exec_id));
    if (p->info.status != ProcStatus::created)
      return coded("process " + (exec_id.empty() ? id : exec_id) + ": already started", EBUSY);
    aid = p->agent_id;
    init_aid = ctrs_[id].init.agent_id;
    if (exec_id.empty()) {
      VEIL_CHECK(vm_.send(FrameType::start, aid, {}));
      p->info.status = ProcStatus::running;
      containerd::events::TaskStart ev;
      ev.set_container_id(id);
      ev.set_pid(p->info.pid);
      events_.publish("/tasks/start", ev);
      return p->info.pid;
    }
  }
  json process;
  {
    std::lock_guard lock(mu_);
    process = std::move(VEIL_TRY(find(id, exec_id))->spec);
  }
  auto started = vm_.ask(FrameType::exec, aid,
                         json{{"process", process}, {"container", init_aid}}.dump(), kCallMs);
  std::lock_guard lock(mu_);
  Proc* p = VEIL_TRY(find(id, exec_id));
  if (!started) {
    p->info.status = ProcStatus::stopped;
    p->info.exit_status = 255;
    p->info.exited_ns = now_ns();
    cv_.notify_all();
    return coded("exec " + exec_id + ": " + started.error().msg, EINVAL);
  }
  if (p->info.status == ProcStatus::created) p->info.status = ProcStatus::running;
  p->info.pid = static_cast<uint32_t>(::getpid());
  // Only now does the agent know the process: stdin sent earlier would have been dropped
  // (containerd's writes wait in the fifo meanwhile).
  if (p->info.status == ProcStatus::running) open_stdin(*p);
  containerd::events::TaskExecStarted ev;
  ev.set_container_id(id);
  ev.set_exec_id(exec_id);
  ev.set_pid(p->info.pid);
  events_.publish("/tasks/exec-started", ev);
  return p->info.pid;
}

Result<> Pod::exec(const std::string& id, const std::string& exec_id, const IoPaths& io,
                   const json& process) {
  std::lock_guard lock(mu_);
  auto it = ctrs_.find(id);
  if (it == ctrs_.end()) return coded("container " + id + ": not found", ENOENT);
  Ctr& c = it->second;
  if (c.init.info.status != ProcStatus::running)
    return coded("container " + id + " is not running", EBUSY);
  if (c.execs.contains(exec_id)) return coded("process " + exec_id + ": already exists", EEXIST);
  auto out = open_output(io.out), err = open_output(io.err);
  if (!out || !err) return std::unexpected(!out ? out.error() : err.error());
  Proc& p = c.execs[exec_id];
  p.agent_id = next_agent_id_++;
  p.info.io = io;
  p.spec = process;  // runs at Start
  by_agent_id_[p.agent_id] = {id, exec_id};
  p.out = std::make_shared<Fd>(std::move(*out));
  p.err = std::make_shared<Fd>(std::move(*err));
  containerd::events::TaskExecAdded ev;
  ev.set_container_id(id);
  ev.set_exec_id(exec_id);
  events_.publish("/tasks/exec-added", ev);
  return {};
}

Result<> Pod::kill(const std::string& id, const std::string& exec_id, int sig, bool all) {
  std::vector<uint32_t> targets;
  {
    std::lock_guard lock(mu_);
    Proc* p = VEIL_TRY(find(id, exec_id));
    if (p->info.status == ProcStatus::stopped || p->info.status == ProcStatus::created) {
      if (p->info.status == ProcStatus::stopped) return coded("process already finished", ENOENT);
      // Killing a created process: it never runs (as runc's kill of a created container).
      exited(ctrs_[id], *p, 128 + static_cast<uint32_t>(sig));
      (void)vm_.send(FrameType::signal, p->agent_id, json{{"signal", SIGKILL}}.dump());
      return {};
    }
    targets.push_back(p->agent_id);
    if (all && exec_id.empty())
      for (auto& [eid, e] : ctrs_[id].execs)
        if (e.info.status == ProcStatus::running) targets.push_back(e.agent_id);
  }
  for (uint32_t t : targets)
    VEIL_CHECK(vm_.send(FrameType::signal, t, json{{"signal", sig}}.dump()));
  return {};
}

Result<ProcInfo> Pod::wait(const std::string& id, const std::string& exec_id) {
  std::unique_lock lock(mu_);
  for (;;) {
    Proc* p = VEIL_TRY(find(id, exec_id));
    if (p->info.status == ProcStatus::stopped) return p->info;
    cv_.wait(lock);
  }
}

Result<ProcInfo> Pod::state(const std::string& id, const std::string& exec_id) {
  std::lock_guard lock(mu_);
  Proc* p = VEIL_TRY(find(id, exec_id));
  ProcInfo i = p->info;
  if (!exec_id.empty()) i.bundle = ctrs_[id].bundle;
  return i;
}

void Pod::exited(Ctr& c, Proc& p, uint32_t status) {
  if (p.info.status == ProcStatus::stopped) return;
  p.info.status = ProcStatus::stopped;
  p.info.exit_status = status;
  p.info.exited_ns = now_ns();
  // containerd's copy of the output ends at EOF: no writer may stay (the agent sent all of it
  // before the exit).
  p.out.reset();
  p.err.reset();
  *p.exited = true;  // ends its stdin pump
  containerd::events::TaskExit ev;
  ev.set_container_id(c.id);
  ev.set_id(&p == &c.init ? c.id : by_agent_id_[p.agent_id].second);
  ev.set_pid(p.info.pid);
  ev.set_exit_status(status);
  set_time(ev.mutable_exited_at(), p.info.exited_ns);
  events_.publish("/tasks/exit", ev);
  cv_.notify_all();
}

void Pod::on_frame(vm::Frame f) {
  if (f.type == FrameType::event) {
    // The guard's audit event: named by the container it says, if that is one of this pod's
    // (the guest is trusted only as far as the pod), else by the pod's sandbox.
    auto e = json::parse(f.payload, nullptr, false);
    std::string who = e.is_object() ? e.value("container", std::string()) : "";
    std::string sandbox;
    {
      std::lock_guard lock(mu_);
      for (const auto& [cid, c] : ctrs_)
        if (c.sandbox) sandbox = cid;
      if (!ctrs_.contains(who)) who = sandbox;
    }
    runtime::microvm::forward_guest_event(f.payload, who);
    return;
  }
  std::shared_ptr<Fd> out;
  {
    std::lock_guard lock(mu_);
    auto who = by_agent_id_.find(f.proc);
    if (who == by_agent_id_.end()) return;
    auto c = ctrs_.find(who->second.first);
    if (c == ctrs_.end()) return;
    Proc* p = &c->second.init;
    if (!who->second.second.empty()) {
      auto e = c->second.execs.find(who->second.second);
      if (e == c->second.execs.end()) return;
      p = &e->second;
    }
    switch (f.type) {
      case FrameType::stdout_data:
        out = p->out;
        break;
      case FrameType::stderr_data:
        out = p->err ? p->err : p->out;
        break;
      case FrameType::exit: {
        int ws = vm::exit_wait_status(f.payload);
        uint32_t code = WIFSIGNALED(ws) ? 128 + static_cast<uint32_t>(WTERMSIG(ws))
                                        : static_cast<uint32_t>(WEXITSTATUS(ws));
        auto j = json::parse(f.payload, nullptr, false);
        if (j.is_object() && j.value("oom", false)) {
          containerd::events::TaskOOM oom;
          oom.set_container_id(c->first);
          events_.publish("/tasks/oom", oom);
        }
        exited(c->second, *p, code);
        return;
      }
      case FrameType::error:  // a process that failed to start in the guest
        log::warn("shim: container " + c->first + ": " + vm::error_message(f.payload));
        exited(c->second, *p, 255);
        return;
      default:
        return;
    }
  }
  if (out && *out) write_output(out->get(), f.payload);
}

void Pod::on_vm_death(const std::string& why) {
  log::warn("shim: " + why);
  std::lock_guard lock(mu_);
  for (auto& [id, c] : ctrs_) {
    for (auto& [eid, e] : c.execs) exited(c, e, 137);
    exited(c, c.init, 137);
  }
}

void Pod::release(Ctr& c) {
  if (c.rootfs_mounted) ::umount2((c.bundle + "/rootfs").c_str(), MNT_DETACH);
  c.rootfs_mounted = false;
  if (c.slot > 0) slot_used_[c.slot] = false;
  c.image = vm::CachedImage{};
}

Result<ProcInfo> Pod::remove(const std::string& id, const std::string& exec_id) {
  bool last = false;
  ProcInfo info;
  {
    std::lock_guard lock(mu_);
    Proc* p = VEIL_TRY(find(id, exec_id));
    if (p->info.status == ProcStatus::running || p->info.status == ProcStatus::paused)
      return coded("process " + (exec_id.empty() ? id : exec_id) + " is still running", EBUSY);
    info = p->info;
    by_agent_id_.erase(p->agent_id);
    Ctr& c = ctrs_[id];
    if (!exec_id.empty()) {
      c.execs.erase(exec_id);
      return info;
    }
    if (info.status == ProcStatus::created) {
      // Never started: the guest still has it waiting for start.
      (void)vm_.send(FrameType::signal, p->agent_id, json{{"signal", SIGKILL}}.dump());
    }
    for (const auto& [eid, e] : c.execs) by_agent_id_.erase(e.agent_id);
    release(c);
    containerd::events::TaskDelete ev;
    ev.set_container_id(id);
    ev.set_pid(info.pid);
    ev.set_exit_status(info.exit_status);
    set_time(ev.mutable_exited_at(), info.exited_ns ? info.exited_ns : now_ns());
    events_.publish("/tasks/delete", ev);
    ctrs_.erase(id);
    last = ctrs_.empty();
  }
  if (last)
    on_main_([this]() -> Result<> {
      vm_.stop();
      return {};
    });
  return info;
}

Result<std::vector<uint32_t>> Pod::pids(const std::string& id) {
  uint32_t aid = VEIL_TRY(agent_id_of(id, ""));
  auto r = VEIL_TRY(vm_.ask(FrameType::pids, aid, "{}", kCallMs));
  auto j = json::parse(r.payload, nullptr, false);
  std::vector<uint32_t> out;
  if (j.is_object() && j.contains("pids"))
    for (const auto& p : j["pids"]) out.push_back(p.get<uint32_t>());
  return out;
}

Result<> Pod::pause(const std::string& id) {
  uint32_t aid = VEIL_TRY(agent_id_of(id, ""));
  VEIL_CHECK(vm_.ask(FrameType::pause, aid, "{}", kCallMs));
  std::lock_guard lock(mu_);
  VEIL_TRY(find(id, ""))->info.status = ProcStatus::paused;
  containerd::events::TaskPaused ev;
  ev.set_container_id(id);
  events_.publish("/tasks/paused", ev);
  return {};
}

Result<> Pod::resume(const std::string& id) {
  uint32_t aid = VEIL_TRY(agent_id_of(id, ""));
  VEIL_CHECK(vm_.ask(FrameType::resume, aid, "{}", kCallMs));
  std::lock_guard lock(mu_);
  Proc* p = VEIL_TRY(find(id, ""));
  if (p->info.status == ProcStatus::paused) p->info.status = ProcStatus::running;
  containerd::events::TaskResumed ev;
  ev.set_container_id(id);
  events_.publish("/tasks/resumed", ev);
  return {};
}

Result<json> Pod::stats(const std::string& id) {
  uint32_t aid = VEIL_TRY(agent_id_of(id, ""));
  auto r = VEIL_TRY(vm_.ask(FrameType::stats, aid, "{}", kCallMs));
  auto j = json::parse(r.payload, nullptr, false);
  if (!j.is_object() || !j.contains("stats")) return fail("stats: the guest sent no stats");
  return j["stats"];
}

Result<> Pod::update(const std::string& id, const json& resources) {
  uint32_t aid = VEIL_TRY(agent_id_of(id, ""));
  VEIL_CHECK(vm_.ask(FrameType::update, aid, json{{"resources", resources}}.dump(), kCallMs));
  return {};
}

Result<> Pod::resize(const std::string& id, const std::string& exec_id, uint32_t w, uint32_t h) {
  uint32_t aid = VEIL_TRY(agent_id_of(id, exec_id));
  return vm_.send(FrameType::resize, aid, json{{"rows", h}, {"cols", w}}.dump());
}

Result<> Pod::close_stdin(const std::string& id, const std::string& exec_id) {
  uint32_t aid;
  {
    std::lock_guard lock(mu_);
    Proc* p = VEIL_TRY(find(id, exec_id));
    aid = p->agent_id;
    // A pump still forwarding the fifo sends the end itself, after the data (ctr calls CloseIO
    // as soon as it has written stdin, which used to overtake the bytes: `cat` saw only EOF).
    if (p->stdin_pumped && !*p->exited) {
      *p->stdin_closing = true;
      return {};
    }
  }
  return vm_.send(FrameType::stdin_close, aid, {});
}

bool Pod::empty() {
  std::lock_guard lock(mu_);
  return ctrs_.empty();
}

void Pod::stop() {
  std::lock_guard lock(mu_);
  for (auto& [id, c] : ctrs_) release(c);
  vm_.stop();
}

}  // namespace veil::shim
