#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace repo::test {
namespace {

// The child's environment: this process's, minus every REPO_* variable (so a REPO_PASSWORD_FILE
// or REPO_REPOSITORY of the shell running ctest cannot change what a test sees), plus `env`,
// which overrides. Built before fork: setenv in the child is not async-signal-safe, and tests
// call RunProgram from several threads.
std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    if (name.starts_with("REPO_") || env.contains(std::string(name))) continue;
    out.emplace_back(entry);
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// execve's arrays: pointers into `strings` (which must outlive them), then a null.
std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}
std::vector<char*> Argv(const std::string& program, const std::vector<std::string>& args) {
  std::vector<char*> out;
  out.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

BackgroundProgram::BackgroundProgram(const std::string& program,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> env_entries = ChildEnvironment({});
  std::vector<char*> envp = Pointers(env_entries);
  std::vector<char*> argv = Argv(program, args);
  pid_ = fork();
  if (pid_ == 0) {
    setsid();
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
}

BackgroundProgram::~BackgroundProgram() {
  if (pid_ > 0 && !reaped_) Signal(SIGKILL);
}

int BackgroundProgram::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
  return Wait();
}

int BackgroundProgram::Wait() {
  if (reaped_) return code_;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return code_;
}

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env, const std::string& stdin_data) {
  std::vector<std::string> env_entries = ChildEnvironment(env);
  std::vector<char*> envp = Pointers(env_entries);
  std::vector<char*> argv = Argv(program, args);
  int in[2], out[2], err[2];
  // Close-on-exec, so a child started at the same time by another thread does not hold this
  // child's pipe ends open.
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setsid();
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    // The pipes close on exec; 0, 1 and 2 must not (dup2 onto the same fd keeps the flag).
    for (int fd = 0; fd <= 2; ++fd) fcntl(fd, F_SETFD, 0);
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Feed stdin and drain both outputs without deadlocking.
  size_t fed = 0;
  if (stdin_data.empty()) close(in[1]);
  RunResult r;
  bool out_open = true, err_open = true, in_open = !stdin_data.empty();
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out[0], POLLIN, 0};
    if (err_open) fds[n++] = {err[0], POLLIN, 0};
    if (in_open) fds[n++] = {in[1], POLLOUT, 0};
    if (poll(fds, n, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == in[1]) {
        ssize_t w = write(in[1], stdin_data.data() + fed, stdin_data.size() - fed);
        if (w > 0) fed += static_cast<size_t>(w);
        if (w <= 0 || fed == stdin_data.size()) {
          close(in[1]);
          in_open = false;
        }
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      std::string& dst = fds[i].fd == out[0] ? r.out : r.err;
      if (got > 0) {
        dst.append(buf, static_cast<size_t>(got));
      } else {
        (fds[i].fd == out[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in_open) close(in[1]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace repo::test
