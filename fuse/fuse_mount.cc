#define FUSE_USE_VERSION 312
#include "fuse/fuse_mount.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "fuse/mountpoint.h"

namespace repo::mount {
namespace {

// How long the kernel may keep what it was told: a snapshot's tree never changes; the layout
// changes as snapshots come and go.
constexpr double kStoredTimeout = 24 * 3600;
constexpr double kLayoutTimeout = 1;
// Most FUSE worker threads (requests answered at once). Reads wait on the chunk cache, not the
// CPU, so more threads than cores keep the kernel's readahead requests in flight.
constexpr unsigned kMaxThreads = 16;
// Most pieces of a read answered straight from the cached chunks: libfuse adds a header to them
// and writev takes at most IOV_MAX (1024). A read of more (chunks of a few hundred bytes: a
// 128 KiB read of the smallest chunks a repository allows has ~870) is copied into one buffer.
constexpr size_t kMaxPieces = 512;
// The kernel's readahead for the mount, when this process may set it (RaiseKernelReadahead).
constexpr int kKernelReadaheadKib = 1024;
// How often Serve brings the index cache up to date with other processes' index files.
constexpr auto kIndexRefresh = std::chrono::minutes(1);

SnapshotFs& Fs(fuse_req_t req) { return *static_cast<SnapshotFs*>(fuse_req_userdata(req)); }

// The errno a failed call answers with. What is not the caller's mistake is logged: the user
// reading the mount sees only EIO, so the log line says which file and why.
int Errno(const Status& s) {
  if (s.IsNotFound()) return ENOENT;
  if (s.code() == StatusCode::kInvalidArgument) return EINVAL;
  spdlog::error("{}", s.message());
  return EIO;
}

double Timeout(const FsEntry& e) { return e.stored ? kStoredTimeout : kLayoutTimeout; }

fuse_entry_param EntryParam(const FsEntry& e) {
  fuse_entry_param p{};
  p.ino = e.ino;
  p.attr = e.attr;
  p.attr_timeout = Timeout(e);
  p.entry_timeout = Timeout(e);
  return p;
}

void OpInit(void*, fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto e = Fs(req).Lookup(parent, name);
  if (!e.ok()) {
    if (e.status().IsNotFound() && TreeInodes::IsStored(parent)) {
      fuse_entry_param none{};  // no such name in a stored directory: that never changes either
      none.entry_timeout = kStoredTimeout;
      fuse_reply_entry(req, &none);
      return;
    }
    fuse_reply_err(req, Errno(e.status()));
    return;
  }
  const fuse_entry_param p = EntryParam(*e);
  fuse_reply_entry(req, &p);
}

void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) {
  fuse_reply_none(req);  // inode numbers stay valid while mounted (tree_inodes.h)
}

void OpForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto e = Fs(req).GetAttr(ino);
  if (!e.ok()) {
    fuse_reply_err(req, Errno(e.status()));
    return;
  }
  fuse_reply_attr(req, &e->attr, Timeout(*e));
}

void OpReadLink(fuse_req_t req, fuse_ino_t ino) {
  auto target = Fs(req).ReadLink(ino);
  if (!target.ok()) {
    fuse_reply_err(req, Errno(target.status()));
    return;
  }
  fuse_reply_readlink(req, target->c_str());
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  auto file = Fs(req).OpenFile(ino);
  if (!file.ok()) {
    fuse_reply_err(req, Errno(file.status()));
    return;
  }
  fi->fh = reinterpret_cast<uint64_t>(file->release());
  fi->keep_cache = 1;  // the content never changes: what the kernel cached stays good
  fi->noflush = 1;
  if (fuse_reply_open(req, fi) != 0) delete reinterpret_cast<SnapshotFile*>(fi->fh);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
  auto* file = reinterpret_cast<SnapshotFile*>(fi->fh);
  FileRead read;
  Status s = file->Read(static_cast<uint64_t>(offset), size, &read);
  if (!s.ok()) {
    // Whatever failed (a pack that is gone is NotFound to the backend), the file is there and
    // its content is not: EIO, and the log says which file, from where, and why.
    spdlog::error("{}", s.message());
    fuse_reply_err(req, EIO);
    return;
  }
  spdlog::debug("read of {} bytes at {}: {} pieces", size, offset, read.pieces.size());
  int sent;
  if (read.pieces.size() < kMaxPieces) {
    // Straight from the cached chunks (no copy).
    std::vector<iovec> iov;
    iov.reserve(read.pieces.size());
    for (ByteSpan p : read.pieces) iov.push_back(iovec{const_cast<uint8_t*>(p.data()), p.size()});
    sent = iov.empty() ? fuse_reply_buf(req, nullptr, 0)
                       : fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  } else {
    const Bytes joined = read.Join();  // more pieces than one writev takes (tiny chunks)
    sent = fuse_reply_buf(req, reinterpret_cast<const char*>(joined.data()), joined.size());
  }
  if (sent != 0) spdlog::warn("answering a read: {}", std::strerror(-sent));
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<SnapshotFile*>(fi->fh);
  fuse_reply_err(req, 0);
}

// An open directory: its stream, where the kernel is in it, and an entry read but not yet sent
// (the buffer was full).
struct OpenDirectory {
  std::mutex mu;
  std::unique_ptr<DirStream> stream;
  off_t next = 0;  // the offset of the next entry: 0 ".", 1 "..", then the stream's entries
  std::optional<std::pair<std::string, FsEntry>> pending;
  // The stream failed (it may have skipped what it could not read): every later call fails too,
  // so that no listing ends early as if complete (and the kernel caches none).
  int failed = 0;
};

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto stream = Fs(req).OpenDir(ino);
  if (!stream.ok()) {
    fuse_reply_err(req, stream.status().code() == StatusCode::kInvalidArgument
                            ? ENOTDIR
                            : Errno(stream.status()));
    return;
  }
  auto* dir = new OpenDirectory;
  dir->stream = std::move(*stream);
  fi->fh = reinterpret_cast<uint64_t>(dir);
  if (TreeInodes::IsStored(ino)) {
    fi->cache_readdir = 1;  // a stored listing never changes
    fi->keep_cache = 1;
  }
  if (fuse_reply_open(req, fi) != 0) delete dir;
}

// Fills `buf` with the entries of `dir` from `offset` on; returns the bytes used, or an errno.
// Replying is left to the caller: once it has replied, the kernel may release the directory.
int FillDir(fuse_req_t req, fuse_ino_t ino, OpenDirectory* dir, off_t offset, bool plus,
            std::vector<char>& buf, size_t* used) {
  std::lock_guard<std::mutex> lock(dir->mu);
  SnapshotFs& fs = Fs(req);
  if (dir->failed != 0) return dir->failed;
  if (offset != dir->next) {  // seekdir, rewinddir: start again and skip to `offset`
    auto stream = fs.OpenDir(ino);
    if (!stream.ok()) return Errno(stream.status());
    dir->stream = std::move(*stream);
    dir->pending.reset();
    dir->next = 0;
    std::string name;
    FsEntry entry;
    for (; dir->next < offset; ++dir->next) {
      if (dir->next < 2) continue;
      auto more = dir->stream->Next(&name, &entry);
      if (!more.ok()) return Errno(more.status());
      if (!*more) break;
    }
  }
  const size_t size = buf.size();
  *used = 0;
  for (;;) {
    std::pair<std::string, FsEntry> e;
    if (dir->next < 2) {
      e.first = dir->next == 0 ? "." : "..";
      e.second.attr.st_ino = ino;  // ".." is the kernel's to resolve
      e.second.attr.st_mode = S_IFDIR;
    } else if (dir->pending) {
      e = std::move(*dir->pending);
      dir->pending.reset();
    } else {
      auto more = dir->stream->Next(&e.first, &e.second);
      if (!more.ok()) {
        dir->failed = Errno(more.status());
        return *used > 0 ? 0 : dir->failed;  // what fitted goes out; the error with the next call
      }
      if (!*more) return 0;
    }
    const off_t next = dir->next + 1;
    size_t n;
    if (plus) {
      // "." and ".." with no inode: the kernel looks nothing up for them.
      fuse_entry_param p = dir->next < 2 ? fuse_entry_param{} : EntryParam(e.second);
      if (dir->next < 2) p.attr = e.second.attr;
      n = fuse_add_direntry_plus(req, buf.data() + *used, size - *used, e.first.c_str(), &p, next);
    } else {
      n = fuse_add_direntry(req, buf.data() + *used, size - *used, e.first.c_str(), &e.second.attr,
                            next);
    }
    if (n > size - *used) {
      if (dir->next >= 2) dir->pending = std::move(e);
      return 0;
    }
    *used += n;
    dir->next = next;
  }
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi,
             bool plus) {
  std::vector<char> buf(size);
  size_t used = 0;
  const int err =
      FillDir(req, ino, reinterpret_cast<OpenDirectory*>(fi->fh), offset, plus, buf, &used);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_buf(req, buf.data(), used);
  }
}

void OpReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  ReadDir(req, ino, size, offset, fi, false);
}

void OpReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  ReadDir(req, ino, size, offset, fi, true);
}

void OpReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<OpenDirectory*>(fi->fh);
  fuse_reply_err(req, 0);
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

// Replies with `value` as getxattr and listxattr do: its size when asked with size 0, ERANGE
// when it does not fit.
void ReplyXattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (value.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto xattrs = Fs(req).Xattrs(ino);
  if (!xattrs.ok()) {
    fuse_reply_err(req, Errno(xattrs.status()));
    return;
  }
  for (const auto& [n, value] : *xattrs) {
    if (n == name) {
      ReplyXattr(req, value, size);
      return;
    }
  }
  fuse_reply_err(req, ENODATA);
}

void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto xattrs = Fs(req).Xattrs(ino);
  if (!xattrs.ok()) {
    fuse_reply_err(req, Errno(xattrs.status()));
    return;
  }
  std::string names;
  for (const auto& [n, value] : *xattrs) names.append(n).push_back('\0');
  ReplyXattr(req, names, size);
}

// Runs an operation; an exception (out of memory, no thread to spare) answers EIO instead of
// unwinding into libfuse's C code. Every operation replies last, so none has replied yet then.
template <auto Op, typename... Args>
void Answer(fuse_req_t req, Args... args) {
  try {
    Op(req, args...);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    fuse_reply_err(req, EIO);
  }
}

fuse_lowlevel_ops Operations() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = Answer<OpLookup, fuse_ino_t, const char*>;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = Answer<OpGetAttr, fuse_ino_t, fuse_file_info*>;
  ops.readlink = Answer<OpReadLink, fuse_ino_t>;
  ops.open = Answer<OpOpen, fuse_ino_t, fuse_file_info*>;
  ops.read = Answer<OpRead, fuse_ino_t, size_t, off_t, fuse_file_info*>;
  ops.release = OpRelease;
  ops.opendir = Answer<OpOpenDir, fuse_ino_t, fuse_file_info*>;
  ops.readdir = Answer<OpReadDir, fuse_ino_t, size_t, off_t, fuse_file_info*>;
  ops.readdirplus = Answer<OpReadDirPlus, fuse_ino_t, size_t, off_t, fuse_file_info*>;
  ops.releasedir = OpReleaseDir;
  ops.statfs = OpStatFs;
  ops.getxattr = Answer<OpGetXattr, fuse_ino_t, const char*, size_t>;
  ops.listxattr = Answer<OpListXattr, fuse_ino_t, size_t>;
  return ops;
}

// libfuse's messages, as ours: "repo: error: fuse: ...".
void LogFromFuse(fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line = buf;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (level <= FUSE_LOG_ERR) {
    spdlog::error("fuse: {}", line);
  } else if (level <= FUSE_LOG_NOTICE) {
    spdlog::info("fuse: {}", line);
  } else {
    spdlog::debug("fuse: {}", line);
  }
}

// The kernel reads ahead of a sequential reader by its read_ahead_kb for the mount, 128 KiB for
// FUSE unless raised: at 1024 a reader's requests come larger and two at a time, and `cat` of
// 2 GiB through the mount took 2.8 s instead of 3.1 s (4096: 3.4 s; docs/perf.md, "Mount").
// Only root may raise it (others keep the kernel's default). The mount is found in
// /proc/self/mountinfo, as a stat of it would wait for this process to answer.
void RaiseKernelReadahead(const std::string& mountpoint) {
  char* real = realpath(mountpoint.c_str(), nullptr);
  if (!real) return;
  std::string escaped;  // mountinfo writes space, tab, newline and backslash as \ooo
  for (const char* p = real; *p; ++p) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned char>(*p));
      escaped += buf;
    } else {
      escaped += *p;
    }
  }
  free(real);
  std::ifstream mounts("/proc/self/mountinfo");
  std::string device;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point && point == escaped) device = dev;
  }
  if (device.empty()) return;
  std::ofstream knob("/sys/class/bdi/" + device + "/read_ahead_kb");
  knob << kKernelReadaheadKib << "\n";
  knob.flush();
  spdlog::debug("kernel readahead for the mount ({}): {}", device,
                knob ? std::to_string(kKernelReadaheadKib) + " KiB" : "the default (not root)");
}

// Wakes the thread in Serve out of libfuse's wait (sem_wait returns on a signal).
void OnWake(int) {}

}  // namespace

Result<std::unique_ptr<FuseMount>> FuseMount::Start(Repository& repo, const MountOptions& options) {
  RETURN_IF_ERROR(CheckMountpoint(options.mountpoint));
  RETURN_IF_ERROR(CheckFuseDevice());
  std::unique_ptr<FuseMount> m(new FuseMount);
  m->repo_ = &repo;
  m->mountpoint_ = options.mountpoint;
  ASSIGN_OR_RETURN(m->fs_, SnapshotFs::Open(repo, options.fs));

  fuse_set_log_func(LogFromFuse);
  struct sigaction wake {};
  wake.sa_handler = OnWake;  // no SA_RESTART: the wait it interrupts must return
  sigemptyset(&wake.sa_mask);
  sigaction(SIGUSR1, &wake, nullptr);

  // auto_unmount: should this process die without unmounting (SIGKILL, a crash), fusermount3
  // unmounts for it, rather than leave a mount whose every access fails.
  std::string opts = "ro,fsname=repo,subtype=repo,auto_unmount";
  if (options.allow_other) opts += ",allow_other,default_permissions";
  std::vector<std::string> args = {"repo", "-o", opts};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops = Operations();
  m->session_ = fuse_session_new(&fargs, &ops, sizeof ops, m->fs_.get());
  fuse_opt_free_args(&fargs);
  if (!m->session_)
    return Status::IOError("could not start a FUSE session (see the message above)");
  if (fuse_session_mount(m->session_, options.mountpoint.c_str()) != 0) {
    return Status::IOError("could not mount at " + options.mountpoint + " (see the message above)");
  }
  m->mounted_ = true;
  RaiseKernelReadahead(options.mountpoint);
  return m;
}

FuseMount::~FuseMount() {
  if (!session_) return;
  if (mounted_) fuse_session_unmount(session_);
  fuse_session_destroy(session_);
}

Status FuseMount::Serve() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return Status::OK();
    serving_ = true;
    serve_thread_ = pthread_self();
  }
  // Keeps the index cache current for the processes that share it (docs/design.md, "Several
  // processes at once"): as its long-lived primary, the mount merges what they write.
  std::mutex refresh_mu;
  std::condition_variable_any refresh_cv;
  std::jthread refresher([&](std::stop_token stop) {
    std::unique_lock<std::mutex> lock(refresh_mu);
    while (!refresh_cv.wait_for(lock, stop, kIndexRefresh, [] { return false; })) {
      if (stop.stop_requested()) return;
      if (Status s = repo_->RefreshIndex(); !s.ok()) {
        spdlog::warn("bringing the index cache up to date: {}", s.message());
      }
    }
  });

  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, kMaxThreads);
  const int res = fuse_session_loop_mt(session_, config);
  fuse_loop_cfg_destroy(config);
  {
    std::lock_guard<std::mutex> lock(mu_);
    loop_done_ = true;  // Stop signals no more (the unmount below may wait for fusermount3)
  }
  fuse_session_unmount(session_);
  mounted_ = false;
  refresher.request_stop();
  refresher.join();
  if (res != 0) {
    return Status::IOError(std::string("the FUSE loop failed: ") +
                           std::strerror(res < 0 ? -res : res));
  }
  return Status::OK();
}

void FuseMount::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  fuse_session_exit(session_);
  // The thread in Serve waits in sem_wait, which a signal interrupts; repeated in case it was
  // not waiting yet when the first came.
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!serving_ || loop_done_) return;
      pthread_kill(static_cast<pthread_t>(serve_thread_), SIGUSR1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace repo::mount
