// `veil events`: the container's resource usage (runc's "stats" event) every interval, and an
// "oom" event whenever the kernel's OOM killer acts in the container's memory cgroup, as JSON
// lines in runc's format, until the container stops. With stats_only: one stats event.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/error.hpp"
#include "runtime/lifecycle.hpp"

namespace veil::runtime {

struct EventsOptions {
  bool stats_only = false;
  int64_t interval_ns = 5'000'000'000;  // runc's default: 5s
};

// Receives one JSON line (with its newline); returning false stops the stream (reader gone).
using EventSink = std::function<bool(const std::string& line)>;

// Fails when the container does not exist or is stopped (as runc: "is not running"). Otherwise
// returns once the container's process is gone (or the sink refuses a line).
Result<> events(const Globals& g, const std::string& id, const EventsOptions& opts,
                const EventSink& sink);

}  // namespace veil::runtime
