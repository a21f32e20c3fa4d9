#include "base/error.hpp"

#include <cstring>

namespace veil {

std::string Error::str() const {
  if (err == 0) return msg;
  return msg + ": " + std::strerror(err);
}

}  // namespace veil
