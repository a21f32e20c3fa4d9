// Errors are values: a message that says what went wrong (and where), plus an optional errno.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace veil {

struct Error {
  std::string msg;
  int err = 0;  // errno, 0 if none

  // "msg: strerror(err)" or just "msg".
  std::string str() const;
  bool operator==(const Error&) const = default;
  // Adds context in front: "context: msg".
  Error wrap(const std::string& context) const& { return Error{context + ": " + msg, err}; }
  Error wrap(const std::string& context) && { return Error{context + ": " + std::move(msg), err}; }
};

template <class T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string msg, int err = 0) {
  return std::unexpected(Error{std::move(msg), err});
}
// Fails with the current errno.
inline std::unexpected<Error> fail_errno(std::string msg) {
  return std::unexpected(Error{std::move(msg), errno});
}

}  // namespace veil

// Propagates an error from an expression returning Result<T>; evaluates to the value.
#define VEIL_TRY(expr)                                             \
  ({                                                               \
    auto veil_try_r_ = (expr);                                     \
    if (!veil_try_r_) return std::unexpected(veil_try_r_.error()); \
    std::move(veil_try_r_).value();                                \
  })
// Same, for Result<void>.
#define VEIL_CHECK(expr)                                           \
  do {                                                             \
    auto veil_check_r_ = (expr);                                     \
    if (!veil_check_r_) return std::unexpected(veil_check_r_.error()); \
  } while (0)
