#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace repo {

Status Status::FromErrno(int err, const std::string& what) {
  std::string m = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFound(std::move(m));
    case EEXIST:
      return AlreadyExists(std::move(m));
    case EINTR:
    case EAGAIN:
      return Transient(std::move(m));
    default:
      return IOError(std::move(m));
  }
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

std::string Status::ToString() const {
  static const char* const kNames[] = {
      "OK",        "NotFound",        "AlreadyExists", "Corruption",         "IOError",
      "Transient", "InvalidArgument", "WrongPassword", "UnsupportedVersion", "Locked",
      "Aborted"};
  std::string s = kNames[static_cast<int>(code_)];
  if (!ok()) s += ": " + message_;
  return s;
}

}  // namespace repo
