// A task's stdio as containerd gives it: fifo paths (or file:// URIs) the shim opens. Output is
// written without ever blocking the shim for long; stdin is read on a thread of its own.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace veil::shim {

// Opens an output (stdout/stderr): a fifo (read-write, so the open never blocks), or a file://
// URI (appended). "" gives no fd. binary:// loggers are refused by name.
Result<Fd> open_output(const std::string& where);
// Writes all of data, waiting at most 2 s for a reader that is slow; drops the rest after that.
void write_output(int fd, std::string_view data);
// Reads the stdin fifo at `path` on a detached thread: each chunk to on_data, then on_eof once
// the writer closes it. The thread ends when *done turns true (the process exited) even if no
// writer ever came, so a process's stdin never parks a thread for the shim's life. When
// *closing turns true (containerd's CloseIO), it forwards what the fifo still holds, then on_eof:
// the end of stdin never overtakes the data written before it.
void pump_stdin(const std::string& path, std::shared_ptr<std::atomic<bool>> done,
                std::shared_ptr<std::atomic<bool>> closing,
                std::function<void(std::string_view)> on_data, std::function<void()> on_eof);

}  // namespace veil::shim
