#include "shim/task_service.hpp"

#include <unistd.h>

#include <thread>

#include "base/log.hpp"
#include "shim/metrics.hpp"
#include "task.pb.h"

namespace veil::shim {

using nlohmann::json;
namespace task = containerd::task::v2;

namespace {

constexpr const char* kService = "containerd.task.v2.Task";

ttrpc::Status to_status(const Error& e) {
  ttrpc::Code c = e.err == ENOENT   ? ttrpc::Code::not_found
                  : e.err == EEXIST ? ttrpc::Code::already_exists
                  : e.err == EBUSY  ? ttrpc::Code::failed_precondition
                                    : ttrpc::Code::unknown;
  return {c, e.msg};
}

void set_time(google::protobuf::Timestamp* t, int64_t ns) {
  t->set_seconds(ns / 1'000'000'000);
  t->set_nanos(static_cast<int>(ns % 1'000'000'000));
}

// Registers method M taking Req: fn(req) returns Result<std::string> (the serialized response).
template <class Req, class Fn>
void on(ttrpc::Server& s, const char* method, Fn fn) {
  s.handle(kService, method,
           [fn, method](const std::string& payload, const ttrpc::Context&) -> ttrpc::Reply {
             Req req;
             if (!req.ParseFromString(payload))
               return ttrpc::status(ttrpc::Code::invalid_argument,
                                    std::string("malformed ") + Req::descriptor()->name());
             Result<std::string> r = fn(req);
             log::debug(std::string("shim: ") + method + (r ? "" : " failed: " + r.error().msg));
             if (!r) return std::unexpected(to_status(r.error()));
             return std::move(*r);
           });
}

std::string empty() {
  return "";
}

json any_json(const google::protobuf::Any& a) {
  // containerd marshals OCI structs (not protobuf) as JSON behind a types.containerd.io URL.
  return json::parse(a.value(), nullptr, false);
}

}  // namespace

void register_task_service(ttrpc::Server& s, Pod& pod, std::function<void()> on_shutdown) {
  on<task::CreateTaskRequest>(
      s, "Create", [&pod](const task::CreateTaskRequest& r) -> Result<std::string> {
        if (!r.checkpoint().empty()) return fail("checkpoints are not supported", EINVAL);
        std::vector<RootfsMount> mounts;
        for (const auto& m : r.rootfs())
          mounts.push_back({m.type(), m.source(), {m.options().begin(), m.options().end()}});
        auto pid = VEIL_TRY(pod.create(r.id(), r.bundle(), mounts,
                                       {r.stdin(), r.stdout(), r.stderr(), r.terminal()}));
        task::CreateTaskResponse resp;
        resp.set_pid(pid);
        return resp.SerializeAsString();
      });
  on<task::StartRequest>(s, "Start", [&pod](const task::StartRequest& r) -> Result<std::string> {
    auto pid = VEIL_TRY(pod.start(r.id(), r.exec_id()));
    task::StartResponse resp;
    resp.set_pid(pid);
    return resp.SerializeAsString();
  });
  on<task::DeleteRequest>(s, "Delete", [&pod](const task::DeleteRequest& r) -> Result<std::string> {
    auto info = VEIL_TRY(pod.remove(r.id(), r.exec_id()));
    task::DeleteResponse resp;
    resp.set_pid(info.pid);
    resp.set_exit_status(info.exit_status);
    set_time(resp.mutable_exited_at(), info.exited_ns);
    return resp.SerializeAsString();
  });
  on<task::ExecProcessRequest>(
      s, "Exec", [&pod](const task::ExecProcessRequest& r) -> Result<std::string> {
        json process = any_json(r.spec());
        if (!process.is_object()) return fail("exec: the process spec is not JSON", EINVAL);
        VEIL_CHECK(pod.exec(r.id(), r.exec_id(), {r.stdin(), r.stdout(), r.stderr(), r.terminal()},
                            process));
        return empty();
      });
  on<task::StateRequest>(s, "State", [&pod](const task::StateRequest& r) -> Result<std::string> {
    auto info = VEIL_TRY(pod.state(r.id(), r.exec_id()));
    task::StateResponse resp;
    resp.set_id(r.exec_id().empty() ? r.id() : r.exec_id());
    resp.set_exec_id(r.exec_id());
    resp.set_bundle(info.bundle);
    resp.set_pid(info.pid);
    resp.set_status(static_cast<containerd::types::Status>(info.status));
    resp.set_stdin(info.io.in);
    resp.set_stdout(info.io.out);
    resp.set_stderr(info.io.err);
    resp.set_terminal(info.io.terminal);
    resp.set_exit_status(info.exit_status);
    if (info.exited_ns) set_time(resp.mutable_exited_at(), info.exited_ns);
    return resp.SerializeAsString();
  });
  on<task::KillRequest>(s, "Kill", [&pod](const task::KillRequest& r) -> Result<std::string> {
    VEIL_CHECK(pod.kill(r.id(), r.exec_id(), static_cast<int>(r.signal()), r.all()));
    return empty();
  });
  on<task::WaitRequest>(s, "Wait", [&pod](const task::WaitRequest& r) -> Result<std::string> {
    auto info = VEIL_TRY(pod.wait(r.id(), r.exec_id()));
    task::WaitResponse resp;
    resp.set_exit_status(info.exit_status);
    set_time(resp.mutable_exited_at(), info.exited_ns);
    return resp.SerializeAsString();
  });
  on<task::PidsRequest>(s, "Pids", [&pod](const task::PidsRequest& r) -> Result<std::string> {
    auto pids = VEIL_TRY(pod.pids(r.id()));
    task::PidsResponse resp;
    for (uint32_t p : pids) resp.add_processes()->set_pid(p);
    return resp.SerializeAsString();
  });
  on<task::PauseRequest>(s, "Pause", [&pod](const task::PauseRequest& r) -> Result<std::string> {
    VEIL_CHECK(pod.pause(r.id()));
    return empty();
  });
  on<task::ResumeRequest>(s, "Resume", [&pod](const task::ResumeRequest& r) -> Result<std::string> {
    VEIL_CHECK(pod.resume(r.id()));
    return empty();
  });
  on<task::StatsRequest>(s, "Stats", [&pod](const task::StatsRequest& r) -> Result<std::string> {
    auto stats = VEIL_TRY(pod.stats(r.id()));
    task::StatsResponse resp;
    resp.mutable_stats()->set_type_url(kMetricsType);
    resp.mutable_stats()->set_value(metrics_from_stats(stats));
    return resp.SerializeAsString();
  });
  on<task::UpdateTaskRequest>(s, "Update",
                              [&pod](const task::UpdateTaskRequest& r) -> Result<std::string> {
                                json res = any_json(r.resources());
                                if (!res.is_object())
                                  return fail("update: the resources are not JSON", EINVAL);
                                VEIL_CHECK(pod.update(r.id(), res));
                                return empty();
                              });
  on<task::ResizePtyRequest>(s, "ResizePty",
                             [&pod](const task::ResizePtyRequest& r) -> Result<std::string> {
                               VEIL_CHECK(pod.resize(r.id(), r.exec_id(), r.width(), r.height()));
                               return empty();
                             });
  on<task::CloseIORequest>(s, "CloseIO",
                           [&pod](const task::CloseIORequest& r) -> Result<std::string> {
                             if (r.stdin()) VEIL_CHECK(pod.close_stdin(r.id(), r.exec_id()));
                             return empty();
                           });
  on<task::ConnectRequest>(s, "Connect",
                           [&pod](const task::ConnectRequest& r) -> Result<std::string> {
                             task::ConnectResponse resp;
                             resp.set_shim_pid(static_cast<uint32_t>(::getpid()));
                             if (auto st = pod.state(r.id(), ""); st) resp.set_task_pid(st->pid);
                             resp.set_version("veil-shim/1");
                             return resp.SerializeAsString();
                           });
  on<task::ShutdownRequest>(
      s, "Shutdown", [&pod, on_shutdown](const task::ShutdownRequest&) -> Result<std::string> {
        // The shim serves the whole pod: it goes only with its last container.
        if (pod.empty())
          std::thread([on_shutdown] {
            ::usleep(50'000);  // let the reply go out first
            on_shutdown();
          }).detach();
        return empty();
      });
}

}  // namespace veil::shim
