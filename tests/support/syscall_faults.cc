// syscall_faults: an LD_PRELOAD library that makes one system call of the program it is loaded
// into fail, for system tests of the real `repo` binary against the failures a disk really
// gives: EIO, ENOSPC, a short write followed by ENOSPC (a disk filling up mid-write), a failed
// link or rename. Only calls on files under one directory count (the repository, not the cache).
//
// Environment:
//   REPO_FAULT_PATH   the directory whose files count (absolute; required, else nothing happens)
//   REPO_FAULT_OP     write (write, pwrite), fsync (fsync, fdatasync), link (link, linkat, rename,
//                     renameat), or read (read, pread)
//   REPO_FAULT_NTH    the call of that op that fails, 1-based; 0: none (count only)
//   REPO_FAULT_ERRNO  EIO (default), ENOSPC, EXDEV or EROFS
//   REPO_FAULT_SHORT  1 with op write: the N-th write writes half its bytes and returns that count,
//                     and the next write to that file fails with ENOSPC
//   REPO_FAULT_COUNTS a file the library writes at exit: one line per op, "op count" (calls seen)
//                     and "fired 0|1"
//
// Not for sanitizer builds: a sanitizer's runtime, linked into the executable, intercepts these
// calls before any preloaded library does (.ci/sanitize leaves these tests out).
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

enum Op { kWrite, kFsync, kLink, kRead, kOps };
const char* const kOpNames[kOps] = {"write", "fsync", "link", "read"};

struct Config {
  const char* path = nullptr;
  size_t path_len = 0;
  int op = -1;
  long nth = 0;
  int err = EIO;
  bool short_write = false;
  const char* counts = nullptr;
};

Config& Conf() {
  static Config c = [] {
    Config c;
    c.path = getenv("REPO_FAULT_PATH");
    c.path_len = c.path ? strlen(c.path) : 0;
    if (const char* op = getenv("REPO_FAULT_OP")) {
      for (int i = 0; i < kOps; ++i) {
        if (strcmp(op, kOpNames[i]) == 0) c.op = i;
      }
    }
    if (const char* n = getenv("REPO_FAULT_NTH")) c.nth = atol(n);
    if (const char* e = getenv("REPO_FAULT_ERRNO")) {
      c.err = strcmp(e, "ENOSPC") == 0  ? ENOSPC
              : strcmp(e, "EXDEV") == 0 ? EXDEV
              : strcmp(e, "EROFS") == 0 ? EROFS
                                        : EIO;
    }
    c.short_write = getenv("REPO_FAULT_SHORT") && strcmp(getenv("REPO_FAULT_SHORT"), "1") == 0;
    c.counts = getenv("REPO_FAULT_COUNTS");
    return c;
  }();
  return c;
}

constexpr int kMaxFd = 1 << 16;
std::atomic<bool> g_tracked[kMaxFd];  // fds open on a file under REPO_FAULT_PATH
std::atomic<int> g_short_fd{-1};      // the fd whose next write fails after a short one
std::atomic<long> g_calls[kOps];
std::atomic<bool> g_fired{false};

bool Under(const char* path) {
  const Config& c = Conf();
  return c.path && path && strncmp(path, c.path, c.path_len) == 0;
}

bool Tracked(int fd) { return fd >= 0 && fd < kMaxFd && g_tracked[fd].load(); }

void Track(int fd, const char* path) {
  if (fd >= 0 && fd < kMaxFd) g_tracked[fd] = Under(path);
}

// Counts a call of `op` that counts; true if it is the one that fails.
bool Fails(Op op) {
  const Config& c = Conf();
  const long n = ++g_calls[op];
  if (c.op != op || c.nth <= 0 || n != c.nth) return false;
  g_fired = true;
  return true;
}

template <typename F>
F Real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

__attribute__((destructor)) void WriteCounts() {
  const Config& c = Conf();
  if (!c.counts) return;
  FILE* f = fopen(c.counts, "w");
  if (!f) return;
  for (int i = 0; i < kOps; ++i) fprintf(f, "%s %ld\n", kOpNames[i], g_calls[i].load());
  fprintf(f, "fired %d\n", g_fired.load() ? 1 : 0);
  fclose(f);
}

// The mode argument open and openat take after `flags` when they create a file.
#define MODE_ARG(flags, mode)                                  \
  mode_t mode = 0;                                             \
  if (((flags)&O_CREAT) || ((flags)&O_TMPFILE) == O_TMPFILE) { \
    va_list ap;                                                \
    va_start(ap, flags);                                       \
    mode = va_arg(ap, mode_t);                                 \
    va_end(ap);                                                \
  }

// A write of `count` bytes to `fd`, done by write_n(n) with n <= count, failing as configured.
template <typename W>
ssize_t Write(int fd, size_t count, W write_n) {
  if (!Tracked(fd)) return write_n(count);
  int pending = fd;
  if (g_short_fd.compare_exchange_strong(pending, -1)) {  // the write after a short one
    errno = ENOSPC;
    return -1;
  }
  if (!Fails(kWrite)) return write_n(count);
  if (Conf().short_write && count > 1) {
    g_short_fd = fd;
    return write_n(count / 2);
  }
  errno = Conf().err;
  return -1;
}

// A call of `op` (on a file that counts when `counts`) done by call(), failing as configured.
template <typename C>
auto Call(Op op, bool counts, C call) -> decltype(call()) {
  if (counts && Fails(op)) {
    errno = Conf().err;
    return -1;
  }
  return call();
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  MODE_ARG(flags, mode);
  static auto real = Real<int (*)(const char*, int, ...)>("open");
  const int fd = real(path, flags, mode);
  Track(fd, path);
  return fd;
}

int open64(const char* path, int flags, ...) {
  MODE_ARG(flags, mode);
  static auto real = Real<int (*)(const char*, int, ...)>("open64");
  const int fd = real(path, flags, mode);
  Track(fd, path);
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
  MODE_ARG(flags, mode);
  static auto real = Real<int (*)(int, const char*, int, ...)>("openat");
  const int fd = real(dirfd, path, flags, mode);
  Track(fd, path);
  return fd;
}

int close(int fd) {
  static auto real = Real<int (*)(int)>("close");
  if (fd >= 0 && fd < kMaxFd) g_tracked[fd] = false;
  int pending = fd;  // a short write's follow-up is for this file only, not its fd's next user
  g_short_fd.compare_exchange_strong(pending, -1);
  return real(fd);
}

ssize_t write(int fd, const void* buf, size_t count) {
  static auto real = Real<ssize_t (*)(int, const void*, size_t)>("write");
  return Write(fd, count, [&](size_t n) { return real(fd, buf, n); });
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static auto real = Real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  return Write(fd, count, [&](size_t n) { return real(fd, buf, n, offset); });
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  return pwrite(fd, buf, count, offset);
}

ssize_t read(int fd, void* buf, size_t count) {
  static auto real = Real<ssize_t (*)(int, void*, size_t)>("read");
  return Call(kRead, Tracked(fd), [&] { return real(fd, buf, count); });
}

ssize_t pread(int fd, void* buf, size_t count, off_t offset) {
  static auto real = Real<ssize_t (*)(int, void*, size_t, off_t)>("pread");
  return Call(kRead, Tracked(fd), [&] { return real(fd, buf, count, offset); });
}

ssize_t pread64(int fd, void* buf, size_t count, off_t offset) {
  return pread(fd, buf, count, offset);
}

int fsync(int fd) {
  static auto real = Real<int (*)(int)>("fsync");
  return Call(kFsync, Tracked(fd), [&] { return real(fd); });
}

int fdatasync(int fd) {
  static auto real = Real<int (*)(int)>("fdatasync");
  return Call(kFsync, Tracked(fd), [&] { return real(fd); });
}

int link(const char* from, const char* to) {
  static auto real = Real<int (*)(const char*, const char*)>("link");
  return Call(kLink, Under(to), [&] { return real(from, to); });
}

int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
  static auto real = Real<int (*)(int, const char*, int, const char*, int)>("linkat");
  return Call(kLink, Under(to), [&] { return real(fromfd, from, tofd, to, flags); });
}

int rename(const char* from, const char* to) {
  static auto real = Real<int (*)(const char*, const char*)>("rename");
  return Call(kLink, Under(to), [&] { return real(from, to); });
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  static auto real = Real<int (*)(int, const char*, int, const char*)>("renameat");
  return Call(kLink, Under(to), [&] { return real(fromfd, from, tofd, to); });
}

}  // extern "C"
