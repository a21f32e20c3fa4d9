// Finding the program to run inside the container, and its environment.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.hpp"

namespace veil::runtime {

// args[0] with a '/' is used as is; otherwise it is searched in the PATH of env (or the default
// PATH). The error reads like runc's: exec: "foo": executable file not found in $PATH.
Result<std::string> find_executable(const std::string& arg0, const std::vector<std::string>& env);

// env plus HOME (from /etc/passwd for uid, else "/") when env has no HOME.
std::vector<std::string> with_home(const std::vector<std::string>& env, uid_t uid);

}  // namespace veil::runtime
