#include "repo/os/fd_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace repo {

Status WriteAll(int fd, ByteSpan data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    if (n == 0) return Status::FromErrno(EIO, what);  // no progress: never loop forever
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status PwriteAll(int fd, ByteSpan data, uint64_t offset, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    if (n == 0) return Status::FromErrno(EIO, what);  // no progress: never loop forever
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Result<size_t> ReadSome(int fd, MutableByteSpan buf, const std::string& what) {
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    return static_cast<size_t>(n);
  }
}

Result<size_t> ReadFull(int fd, MutableByteSpan buf, const std::string& what) {
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

Result<size_t> PreadFull(int fd, MutableByteSpan buf, uint64_t offset, const std::string& what) {
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

Result<int> OpenUnnamedTempFile(const std::string& what) {
  const char* env = std::getenv("TMPDIR");
  const std::string dir = env && *env ? env : "/tmp";
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string name = dir + "/repo-tmp-XXXXXX";
    fd = mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0) unlink(name.c_str());
  }
  if (fd < 0) return Status::FromErrno(errno, what + ": temporary file in " + dir);
  return fd;
}

Result<Bytes> ReadWholeFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "reading " + path);
  struct stat st;
  Bytes data;
  Status s = Status::OK();
  if (fstat(fd, &st) != 0) {
    s = Status::FromErrno(errno, "reading " + path);
  } else {
    data.resize(static_cast<size_t>(st.st_size));
    auto got = ReadFull(fd, data, "reading " + path);
    if (!got.ok()) {
      s = got.status();
    } else {
      data.resize(*got);
    }
  }
  close(fd);
  RETURN_IF_ERROR(s);
  return data;
}

Status ReplaceWholeFile(const std::string& path, ByteSpan data) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "writing " + tmp);
  Status s = WriteAll(fd, data, "writing " + tmp);
  close(fd);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno(errno, "renaming " + tmp + " to " + path);
  }
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

}  // namespace repo
