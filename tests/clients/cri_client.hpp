// A small CRI client (runtime.v1 over gRPC, as kubelet speaks it) for the tests: one call per
// RPC the tests use, each with a deadline, errors as the gRPC status text.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "cri/runtime_v1.grpc.pb.h"

namespace veil::clients {

namespace cri = ::runtime::v1;

class CriClient {
 public:
  // socket: the path of containerd's gRPC socket.
  explicit CriClient(const std::string& socket);

  // Calls one RPC with a deadline of `seconds`; "" on success, else "CODE: message".
  template <class Req, class Resp>
  std::string call(grpc::Status (cri::RuntimeService::Stub::*rpc)(grpc::ClientContext*, const Req&,
                                                                  Resp*),
                   const Req& req, Resp* resp, int seconds = 60) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    grpc::Status st = (stub_.get()->*rpc)(&ctx, req, resp);
    if (st.ok()) return "";
    return std::to_string(static_cast<int>(st.error_code())) + ": " + st.error_message();
  }

  cri::RuntimeService::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<cri::RuntimeService::Stub> stub_;
};

}  // namespace veil::clients
