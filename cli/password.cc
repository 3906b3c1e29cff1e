#include "cli/password.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "repo/os/child_process.h"
#include "repo/os/fd_io.h"

namespace repo::cli {
namespace {

constexpr size_t kMaxPassword = 4096;

// Reads up to kMaxPassword bytes from fd into guarded memory; stops at the first newline when
// `line` is set. Strips one trailing "\n" or "\r\n".
Result<SecretBytes> ReadSecret(int fd, bool line, const std::string& what) {
  SecretBytes buf(kMaxPassword + 1);
  size_t n = 0;
  while (n < buf.size()) {
    ASSIGN_OR_RETURN(size_t got,
                     ReadSome(fd, MutableByteSpan(buf.data() + n, line ? 1 : buf.size() - n),
                              "reading password from " + what));
    if (got == 0) break;
    n += got;
    if (line && buf.data()[n - 1] == '\n') break;
  }
  if (n > kMaxPassword) return Status::InvalidArgument("password from " + what + " is too long");
  if (n > 0 && buf.data()[n - 1] == '\n') --n;
  if (n > 0 && buf.data()[n - 1] == '\r') --n;
  buf.Truncate(n);
  if (buf.empty()) return Status::InvalidArgument("empty password from " + what);
  return buf;
}

Result<SecretBytes> FromFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "password file " + path);
  auto r = ReadSecret(fd, false, "file " + path);
  close(fd);
  if (!r.ok() && r.status().IsNotFound()) return Status::InvalidArgument(r.status().message());
  return r;
}

Result<SecretBytes> FromCommand(const std::string& command) {
  ChildProcess child;
  RETURN_IF_ERROR(child.Start({"/bin/sh", "-c", command}));
  auto r = ReadSecret(child.stdout_fd(), false, "password command");
  ASSIGN_OR_RETURN(ExitStatus status, child.Wait());
  if (!status.success()) {
    return Status::InvalidArgument("password command '" + command + "' failed (" +
                                   status.Describe() + ")");
  }
  return r;
}

Result<SecretBytes> FromTerminal(const std::string& prompt) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument(
        "no password given and no terminal to ask on: use --password-file, --password-command "
        "or REPO_PASSWORD_FILE");
  }
  termios old{};
  bool restore = tcgetattr(fd, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!write(fd, prompt.data(), prompt.size());
  auto r = ReadSecret(fd, true, "terminal");
  (void)!write(fd, "\n", 1);
  if (restore) tcsetattr(fd, TCSAFLUSH, &old);
  close(fd);
  return r;
}

}  // namespace

Result<SecretBytes> ReadPassword(const PasswordSource& source, const std::string& prompt,
                                 bool confirm) {
  if (!source.file.empty()) return FromFile(source.file);
  if (!source.command.empty()) return FromCommand(source.command);
  ASSIGN_OR_RETURN(SecretBytes first, FromTerminal(prompt + ": "));
  if (!confirm) return first;
  ASSIGN_OR_RETURN(SecretBytes again, FromTerminal("enter it again: "));
  if (!first.Equals(again)) return Status::InvalidArgument("the passwords did not match");
  return first;
}

}  // namespace repo::cli
