#include "runtime/create_setup.hpp"

#include "base/log.hpp"
#include "linux/mount_sources.hpp"
#include "linux/namespaces.hpp"
#include "runtime/hooks.hpp"
#include "runtime/terminal.hpp"

namespace veil::runtime {
namespace {

// What the container process is doing after the last message we got from it.
const char* step_after(MsgType last) {
  switch (last) {
    case MsgType::go:
      return "joining and creating namespaces";
    case MsgType::id_maps_done:
      return "creating namespaces after the id maps";
    case MsgType::child_pid:
      return "setting up the root filesystem and mounts";
    case MsgType::hooks_done:
      return "createContainer hooks, pivot_root and the process setup";
    case MsgType::console:
      return "the process setup after the terminal";
    case MsgType::guard_done:
    case MsgType::seccomp_done:
      return "the identity switch after loading seccomp filters";
    default:
      return "setup";
  }
}

int hooks_budget_ms(const std::vector<oci::Hook>& hooks, int step_ms) {
  int64_t total = step_ms;
  for (const auto& h : hooks) total += h.timeout ? *h.timeout * 1000LL : step_ms;
  return static_cast<int>(std::min<int64_t>(total, 24LL * 3600 * 1000));
}

}  // namespace

Result<> drive_setup(const SyncChannel& ch, SetupDialogue& d) {
  const oci::Spec& spec = *d.spec;
  const int step_ms = setup_timeout_ms();
  MsgType last = MsgType::go;
  auto state_json = [&](Status s) {
    State now = *d.state;
    now.pid = d.stage2;
    return now.public_json(s);
  };
  for (;;) {
    int bound = last == MsgType::hooks_done ? hooks_budget_ms(spec.hooks.create_container, step_ms)
                                            : step_ms;
    log::debug(std::string("waiting for the container process: ") + step_after(last));
    auto m = VEIL_TRY(ch.recv_within(bound, step_after(last)));
    if (!m)
      return fail(std::string("container process exited during setup (") + step_after(last) + ")");
    switch (m->type) {
      case MsgType::id_maps:
        VEIL_CHECK(
            namespaces::write_id_maps(d.stage1, spec.linux.uid_mappings, spec.linux.gid_mappings));
        VEIL_CHECK(ch.send(MsgType::id_maps_done));
        last = MsgType::id_maps_done;
        break;
      case MsgType::child_pid:
        d.stage2 = static_cast<pid_t>(m->value);
        last = MsgType::child_pid;
        break;
      case MsgType::ready:
        if (d.stage2 <= 0) return fail("container process pid unknown");
        return {};
      case MsgType::console:
        if (!m->fd) return fail("pty master missing from the console message");
        if (!d.opts->console_socket.empty())
          VEIL_CHECK(send_to_console_socket(d.opts->console_socket, m->fd.get()));
        else if (d.console_out)
          *d.console_out = std::move(m->fd);
        last = MsgType::console;
        break;
      case MsgType::hooks: {
        // The container's namespaces exist and its mounts are done; pivot_root has not happened.
        std::string s = state_json(Status::creating).dump();
        VEIL_CHECK(hooks::run(spec.hooks.prestart, s, "prestart"));
        VEIL_CHECK(hooks::run(spec.hooks.create_runtime, s, "createRuntime"));
        VEIL_CHECK(ch.send(MsgType::hooks_done, 0, s));
        last = MsgType::hooks_done;
        break;
      }
      case MsgType::seccomp_fd: {
        // The process announced the listener's fd number and is loading its filter now.
        if (!d.filter) return fail("unexpected seccomp notify fd");
        auto fd = VEIL_TRY(seccomp::wait_listener_fd(d.stage2, static_cast<int>(m->value), bound));
        VEIL_CHECK(seccomp::send_notify_fd(d.filter->listener_path, d.filter->listener_metadata,
                                           state_json(Status::running), fd.get(), d.stage2));
        VEIL_CHECK(ch.send(MsgType::seccomp_done));
        last = MsgType::seccomp_done;
        break;
      }
      case MsgType::mount_sources: {
        auto fds = VEIL_TRY(mount_sources::open_in(d.stage2, spec.mounts));
        for (size_t i = 0; i < fds.size(); ++i)
          if (fds[i]) VEIL_CHECK(ch.send_fd(MsgType::mount_source_fd, fds[i].get(), i));
        VEIL_CHECK(ch.send(MsgType::mount_sources_done));
        break;
      }
      case MsgType::guard_fd: {
        d.guard_notify = VEIL_TRY(seccomp::fd_from_process(d.stage2, static_cast<int>(m->value)));
        VEIL_CHECK(ch.send(MsgType::guard_done));
        last = MsgType::guard_done;
        break;
      }
      case MsgType::error:
        return std::unexpected(Error{m->text});
      default:
        return fail("unexpected message from container process");
    }
  }
}

}  // namespace veil::runtime
