// Runs a program the way a script would, for end-to-end tests: arguments, extra environment,
// optional stdin, captured stdout/stderr and exit code. The child runs in a new session, so it
// has no controlling terminal (as under cron) and cannot prompt. Tests are hermetic: the child
// gets this process's environment without any REPO_* variable, plus the `env` a test passes.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace repo::test {

struct RunResult {
  int exit_code = -1;  // 128 + signal if killed by a signal
  std::string out;
  std::string err;
};

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {},
                     const std::string& stdin_data = "");

// A program started in the background, in a new session, with stdin, stdout and stderr on
// /dev/null and the environment RunProgram gives: for tests that kill a command mid-way.
class BackgroundProgram {
 public:
  BackgroundProgram(const std::string& program, const std::vector<std::string>& args);
  ~BackgroundProgram();  // SIGKILLs and reaps it if it still runs
  BackgroundProgram(const BackgroundProgram&) = delete;
  BackgroundProgram& operator=(const BackgroundProgram&) = delete;
  // Sends `sig` (if it still runs) and waits: the exit code as a shell reports it (128 + signal).
  int Signal(int sig);
  int Wait();

 private:
  int pid_ = -1;
  bool reaped_ = false;
  int code_ = -1;
};

// Writes `content` to `path` (truncating).
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

}  // namespace repo::test
