// Naming files at any depth for the *at() calls.
//
// Paths of any length: a syscall given a path fails with ENAMETOOLONG at PATH_MAX (4096) bytes,
// but a tree may be deeper. Like tar and restic, the walk and the restore name each entry
// relative to an open directory (an AtPath) and keep the full path only for messages. Calls that
// exist only for paths (l*xattr) reach the entry through "/proc/self/fd/<dir>/<name>".
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "base/status.h"

namespace repo {

// An entry for *at() calls: `name` relative to the open directory `dir`, or, when `dir` is
// AT_FDCWD, a whole path. Owns nothing.
struct AtPath {
  int dir = AT_FDCWD;
  const char* name = "";
};

// A path naming `at` (whose full path is `full_path`) that path-only calls accept however deep
// the entry is: `full_path` while it is shorter than PATH_MAX (the cheapest lookup), else
// "/proc/self/fd/<dir>/<name>" (the directory is reached through its fd; l* calls do not follow
// the last component). Without /proc, `full_path` (beyond PATH_MAX: ENAMETOOLONG).
std::string XattrPath(AtPath at, const std::string& full_path);

// Resolves absolute paths of any length to AtPaths. A path shorter than PATH_MAX is returned as
// it is (AT_FDCWD, no syscall): ordinary paths cost nothing extra. For a longer one the parent
// directory is opened (O_PATH) in pieces shorter than PATH_MAX, each relative to the previous
// one, so it resolves exactly as the kernel would resolve the whole path (symlinks in it are
// followed). The parent stays open for the next call, and a later path below it starts from it:
// callers that go in tree order pay about one openat(2) per directory. Holds at most one fd
// between calls. Not thread-safe: one per thread.
class PathResolver {
 public:
  PathResolver() = default;
  ~PathResolver();
  PathResolver(const PathResolver&) = delete;
  PathResolver& operator=(const PathResolver&) = delete;

  // REQUIRES: `path` absolute and lexically normal (no "//", ".", "..", trailing '/'), alive and
  // unchanged while the result is used. The result is valid until the next call or destruction.
  // Errors are those of opening the parent (NotFound if it does not exist), naming `path`.
  Result<AtPath> Resolve(const std::string& path);

 private:
  int fd_ = -1;      // open on dir_, or -1
  std::string dir_;  // a path of PATH_MAX bytes or more
};

// A stat time in nanoseconds since the epoch (as Node keeps mtime_ns and ctime_ns).
inline int64_t TimespecNs(const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

// Raises the soft RLIMIT_NOFILE to the hard limit (the first call only; a walk holds one
// directory fd per level) and returns the soft limit in force.
uint64_t RaiseOpenFileLimit();

}  // namespace repo
