// Status and Result<T>: the error currency across every module boundary.
//
// A Status is either OK or carries a code and a one-line message that names what failed, on which
// object, and (where it helps) what to do. Codes are coarse on purpose: callers branch on the code,
// users read the message. Corruption (bytes on disk are wrong) is distinct from IOError (the
// operating system refused) and NotFound (the object is not there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace repo {

enum class StatusCode : uint8_t {
  kOk = 0,
  kNotFound,            // object, file or key does not exist
  kAlreadyExists,       // exclusive create found something there
  kCorruption,          // stored bytes fail a check: MAC, hash, length, structure
  kIOError,             // the OS refused an operation; permanent as far as we know
  kTransient,           // may succeed if retried (EINTR/EAGAIN-like, timeouts)
  kInvalidArgument,     // caller error: bad option, bad path, bad parameter
  kWrongPassword,       // no key file opened with the password given
  kUnsupportedVersion,  // format version newer than this binary understands
  kLocked,              // another process holds a lock we need
  kAborted,             // gave up on purpose (user interrupt, failed child command)
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Transient(std::string m) { return {StatusCode::kTransient, std::move(m)}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status WrongPassword(std::string m) { return {StatusCode::kWrongPassword, std::move(m)}; }
  static Status UnsupportedVersion(std::string m) {
    return {StatusCode::kUnsupportedVersion, std::move(m)};
  }
  static Status Locked(std::string m) { return {StatusCode::kLocked, std::move(m)}; }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  // errno-based IOError: "<what>: <strerror(err)>"; ENOENT maps to NotFound, EEXIST to
  // AlreadyExists, EINTR/EAGAIN to Transient.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }

  // Returns a copy whose message is "<context>: <message>"; the code is kept.
  Status WithContext(const std::string& context) const;
  // "NotFound: <message>", for logs and tests.
  std::string ToString() const;

 private:
  Status(StatusCode c, std::string m) : code_(c), message_(std::move(m)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status saying why there is none. REQUIRES for value(): ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Corruption("internal: Result built from OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace repo

#define REPO_CONCAT_INNER(a, b) a##b
#define REPO_CONCAT(a, b) REPO_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)    \
  do {                           \
    ::repo::Status _st = (expr); \
    if (!_st.ok()) return _st;   \
  } while (0)

// `lhs` = value of the Result `rexpr`, or returns its Status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL(REPO_CONCAT(_result_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                          \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
