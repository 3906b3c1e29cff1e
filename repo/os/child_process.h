// A child process whose standard output the parent reads, and its exit status: what
// `--password-command`, `--stdin-from-command` (and later wal-push's and base backups' helpers)
// run. The child's stdin and stderr are the parent's.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"

namespace repo {

// The signal mask children start with (default: none blocked). The CLI blocks the signals it
// handles in one thread of its own and gives children the mask it was started with.
void SetChildSignalMask(const sigset_t& mask);

// How a child ended.
struct ExitStatus {
  bool exited = false;  // false: killed by a signal
  int code = 0;         // exit code when exited, else the signal number
  bool success() const { return exited && code == 0; }
  // "exited with status 3", "was killed by signal 9".
  std::string Describe() const;
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Closes the pipe and waits for the child if Wait was not called.
  ~ChildProcess();

  // Runs argv[0] (searched in PATH) with `argv`, its stdout a pipe to read from stdout_fd().
  // A program that cannot be run exits 127 after saying why on stderr, as a shell does.
  // REQUIRES: !argv.empty(), not started yet.
  [[nodiscard]] Status Start(const std::vector<std::string>& argv);
  // The read end of the child's stdout; -1 before Start and after Wait.
  int stdout_fd() const { return fd_; }
  // Closes the read end (a child still writing gets SIGPIPE rather than blocking) and waits for
  // the child. Calling it again returns the same status.
  Result<ExitStatus> Wait();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool waited_ = false;
  ExitStatus status_;
};

}  // namespace repo
