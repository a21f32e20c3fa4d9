#include "shim/pod_vm.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "base/file.hpp"
#include "base/log.hpp"
#include "base/strings.hpp"
#include "base/time.hpp"
#include "runtime/microvm/guest_start.hpp"

namespace veil::shim {

using vm::FrameType;

Result<> PodVm::boot(const PodVmConfig& cfg, FrameSink on_frame, DeathSink on_death) {
  cfg_ = cfg;
  on_frame_ = std::move(on_frame);
  on_death_ = std::move(on_death);
  // A failed boot leaves nothing: no QEMU, tc redirection, template lock or VM directory.
  auto r = start();
  if (!r) stop();
  return r;
}

Result<> PodVm::start() {
  VEIL_CHECK(mkdir_all(cfg_.vm_dir, 0700));
  auto assets = VEIL_TRY(vm::find_assets());
  auto accel = vm::choose_accel(assets);
  if (const char* want = ::getenv("VEIL_VM_ACCEL");
      want && std::string(want) == "kvm" && accel.name != "kvm")
    return fail("VEIL_VM_ACCEL=kvm: KVM is not usable here (" + accel.reason + ")");
  vm::Shape shape{accel.name, kPodGuestMiB, 1, kPodSlots};
  const char* tmpl = ::getenv("VEIL_VM_TEMPLATE");
  if (!(tmpl && std::string(tmpl) == "off"))
    template_ = VEIL_TRY(vm::ensure_template(assets, shape, cfg_.timeout_ms));
  Fd tap;
  if (!cfg_.netns.empty()) {
    tap = VEIL_TRY(vm::plumb_netns(cfg_.netns, &nic_));
    plumbed_ = true;
    (void)write_file_atomic(cfg_.vm_dir + "/net.json",
                            nlohmann::json{{"netns", cfg_.netns}, {"ifname", nic_.ifname}}.dump(),
                            0600);
  }
  vm::Devices dev;
  dev.name = cfg_.vm_dir;
  dev.tap_fd = tap.get();
  guest_ = VEIL_TRY(vm::start_guest(assets, shape, template_ ? &*template_ : nullptr, cfg_.disk,
                                    cfg_.vm_dir + "/qemu.log", cfg_.timeout_ms, dev));
  auto kernel = runtime::microvm::greet(guest_, plumbed_ ? nic_.to_json() : nlohmann::json(),
                                        cfg_.timeout_ms);
  if (!kernel) return std::unexpected(kernel.error());
  log::debug("shim: pod VM up (" + guest_.how + ", kernel " + *kernel + ")");
  alive_ = true;
  reader_ = std::thread([this] { read_loop(); });
  reader_.detach();
  return {};
}

void PodVm::read_loop() {
  char buf[65536];
  std::string why = "the pod's VM stopped";
  for (;;) {
    pollfd p{guest_.agent.get(), POLLIN, 0};
    int r = ::poll(&p, 1, 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      // QEMU gone without closing the channel first?
      if (guest_.qemu > 0 && ::kill(guest_.qemu, 0) != 0) break;
      int st;
      if (guest_.qemu > 0 && ::waitpid(guest_.qemu, &st, WNOHANG) == guest_.qemu) {
        guest_.qemu = -1;
        why = "QEMU exited";
        break;
      }
      continue;
    }
    ssize_t n = ::read(guest_.agent.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    guest_.reader.feed(buf, static_cast<size_t>(n));
    bool bad = false;
    for (;;) {
      auto f = guest_.reader.next();
      if (!f) {
        why = "the agent's channel is corrupt: " + f.error().str();
        bad = true;
        break;
      }
      if (!*f) break;
      vm::Frame fr = std::move(**f);
      bool answer = fr.type == FrameType::created || fr.type == FrameType::started ||
                    fr.type == FrameType::updated || fr.type == FrameType::reply ||
                    fr.type == FrameType::error;
      if (answer) {
        std::lock_guard lock(mu_);
        if (auto it = answers_.find(fr.proc); it != answers_.end() && !it->second) {
          it->second = std::move(fr);
          cv_.notify_all();
          continue;
        }
      }
      on_frame_(std::move(fr));
    }
    if (bad) break;
  }
  alive_ = false;
  cv_.notify_all();
  on_death_(why);
}

Result<> PodVm::send(FrameType t, uint32_t proc, std::string_view payload) {
  if (!alive_) return fail("the pod's VM is not running");
  std::lock_guard lock(send_mu_);
  std::string frame = vm::encode_frame(t, proc, payload);
  auto r = vm::write_all(guest_.agent.get(), frame, 10'000);
  if (t == FrameType::create) ::explicit_bzero(frame.data(), frame.size());  // may hold secrets
  return r;
}

Result<vm::Frame> PodVm::ask(FrameType t, uint32_t proc, std::string_view payload, int timeout_ms) {
  {
    // The agent answers a process's requests in order, by its id: one at a time per process
    // (containerd may ask Stats while an Update runs), the others wait their turn.
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return !answers_.contains(proc) || !alive_; }))
      return fail(
          strprintf("%s: the guest is still answering an earlier request", vm::frame_type_name(t)));
    answers_[proc] = std::nullopt;
  }
  auto r = send(t, proc, payload);
  std::unique_lock lock(mu_);
  if (!r) {
    answers_.erase(proc);
    cv_.notify_all();
    return std::unexpected(r.error());
  }
  bool got = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                          [&] { return answers_[proc].has_value() || !alive_; });
  auto answer = std::move(answers_[proc]);
  answers_.erase(proc);
  cv_.notify_all();  // the next request for this process may go
  if (!answer) {
    if (!alive_) return fail(std::string(vm::frame_type_name(t)) + ": the pod's VM stopped");
    (void)got;
    return fail(
        strprintf("%s: no answer from the guest within %d ms", vm::frame_type_name(t), timeout_ms));
  }
  if (answer->type == FrameType::error) {
    auto j = nlohmann::json::parse(answer->payload, nullptr, false);
    return fail(j.is_object() ? j.value("message", std::string("error")) : answer->payload);
  }
  return std::move(*answer);
}

Result<> PodVm::attach(int slot, int image_fd, int timeout_ms) {
  std::lock_guard lock(qmp_mu_);
  return vm::attach_slot(guest_, slot, image_fd, timeout_ms);
}

void PodVm::stop() {
  alive_ = false;
  vm::stop_guest(guest_);
  if (plumbed_) vm::unplumb(nic_);
  plumbed_ = false;
  template_.reset();
  if (!cfg_.vm_dir.empty()) (void)remove_all(cfg_.vm_dir);
  cv_.notify_all();  // nobody waits for an answer from a stopped VM
}

}  // namespace veil::shim
