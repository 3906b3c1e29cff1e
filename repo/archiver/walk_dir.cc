#include "repo/archiver/walk_dir.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "repo/os/path_resolver.h"

namespace repo {
namespace {

constexpr char kCacheDirTagSignature[] = "Signature: 8a477f597d28d172789f06886806bc55";
// File descriptors kept free for what the snapshot opens besides the walk's directories (packs
// being written, the index cache, the backend), when the open-file limit is small.
constexpr uint64_t kReservedFds = 128;
// Directory levels the walk descends at most, whatever the fd limit: bounds its recursion, about
// 2 KiB of stack a level, well within the usual 8 MiB.
constexpr uint64_t kMaxWalkDepth = 2048;

}  // namespace

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string AbsolutePath(const std::string& p) {
  std::filesystem::path abs = std::filesystem::absolute(p).lexically_normal();
  std::string s = abs.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::vector<std::string> PathComponents(const std::string& abs) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos < abs.size()) {
    size_t next = abs.find('/', pos);
    if (next == std::string::npos) next = abs.size();
    out.push_back(abs.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

WalkDepth WalkDepthLimit() {
  const uint64_t limit = RaiseOpenFileLimit();
  const uint64_t fds = (limit - std::min(limit / 2, kReservedFds)) / 2;
  return fds < kMaxWalkDepth ? WalkDepth{fds, true} : WalkDepth{kMaxWalkDepth, false};
}

bool IsCacheDir(int dirfd) {
  int fd = openat(dirfd, "CACHEDIR.TAG", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[sizeof kCacheDirTagSignature - 1];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n == static_cast<ssize_t>(sizeof buf) && std::memcmp(buf, kCacheDirTagSignature, n) == 0;
}

}  // namespace repo
