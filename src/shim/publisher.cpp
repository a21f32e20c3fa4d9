#include "shim/publisher.hpp"

#include <time.h>

#include <chrono>

#include "base/log.hpp"
#include "events.pb.h"
#include "ttrpc/client.hpp"

namespace veil::shim {

Publisher::Publisher(std::string address, std::string ns)
    : address_(std::move(address)), ns_(std::move(ns)), thread_([this] { run(); }) {}

Publisher::~Publisher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Publisher::publish(const std::string& topic, const google::protobuf::Message& event) {
  containerd::events::ForwardRequest req;
  auto* env = req.mutable_envelope();
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  env->mutable_timestamp()->set_seconds(now.tv_sec);
  env->mutable_timestamp()->set_nanos(static_cast<int>(now.tv_nsec));
  env->set_namespace_(ns_);
  env->set_topic(topic);
  env->mutable_event()->set_type_url(event.GetTypeName());
  env->mutable_event()->set_value(event.SerializeAsString());
  {
    std::lock_guard lock(mu_);
    queue_.push_back(req.SerializeAsString());
  }
  cv_.notify_all();
}

void Publisher::flush(int timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return queue_.empty() && !busy_; });
}

void Publisher::run() {
  std::unique_ptr<ttrpc::Client> client;
  for (;;) {
    std::string msg;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      msg = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    bool sent = address_.empty();
    for (int attempt = 0; attempt < 5 && !sent; ++attempt) {
      if (!client) {
        auto c = ttrpc::Client::connect(address_, 2'000);
        if (!c) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
        client = std::move(*c);
      }
      auto r = client->call("containerd.services.events.ttrpc.v1.Events", "Forward", msg, 5'000);
      if (r) {
        sent = true;
      } else if (r.error().code == ttrpc::Code::unavailable ||
                 r.error().code == ttrpc::Code::deadline_exceeded) {
        client.reset();
      } else {
        log::warn("shim: event refused by containerd: " + r.error().message);
        sent = true;  // not worth retrying
      }
    }
    if (!sent) log::warn("shim: an event could not be sent to containerd at " + address_);
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace veil::shim
