// Task events to containerd: Events/Forward over ttrpc to $TTRPC_ADDRESS, in order, from a queue
// of their own (a slow or restarting containerd never blocks a task call). A failed send is
// retried on a new connection a few times, then dropped with a log line.
#pragma once

#include <google/protobuf/message.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace veil::shim {

class Publisher {
 public:
  Publisher(std::string address, std::string ns);
  ~Publisher();
  // topic: "/tasks/exit"…; the event's Any type URL is its bare message name, as containerd's
  // typeurl registry expects.
  void publish(const std::string& topic, const google::protobuf::Message& event);
  // Waits (bounded) until everything queued was sent.
  void flush(int timeout_ms);

 private:
  void run();
  std::string address_, ns_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // serialized ForwardRequests
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace veil::shim
