#include "cri_client.hpp"

namespace veil::clients {

CriClient::CriClient(const std::string& socket)
    : stub_(cri::RuntimeService::NewStub(
          grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()))) {}

}  // namespace veil::clients
