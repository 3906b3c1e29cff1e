#include "repo/os/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace repo {

std::string ExitStatus::Describe() const {
  return exited ? "exited with status " + std::to_string(code)
                : "was killed by signal " + std::to_string(code);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !waited_) (void)Wait();
}

namespace {

sigset_t& ChildMask() {
  static sigset_t mask = [] {
    sigset_t none;
    sigemptyset(&none);
    return none;
  }();
  return mask;
}

}  // namespace

void SetChildSignalMask(const sigset_t& mask) { ChildMask() = mask; }

Status ChildProcess::Start(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "creating a pipe");
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return Status::FromErrno(err, "starting " + argv[0]);
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    // The command gets the signals `repo` itself leaves to one thread (cli/main.cc).
    sigprocmask(SIG_SETMASK, &ChildMask(), nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "repo: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  pid_ = pid;
  fd_ = fds[0];
  return Status::OK();
}

Result<ExitStatus> ChildProcess::Wait() {
  if (waited_) return status_;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (pid_ <= 0) return Status::InvalidArgument("no child process was started");
  int raw = 0;
  pid_t got;
  while ((got = waitpid(pid_, &raw, 0)) < 0 && errno == EINTR) {
  }
  waited_ = true;
  if (got < 0) return Status::FromErrno(errno, "waiting for a child process");
  status_.exited = WIFEXITED(raw);
  status_.code = status_.exited ? WEXITSTATUS(raw) : WTERMSIG(raw);
  return status_;
}

}  // namespace repo
