// FuseMount: a SnapshotFs mounted through libfuse3's low-level API (`repo mount`; docs/cli.md,
// "repo mount"; docs/design.md, "The mount").
//
// Read-only, served by a multithreaded loop. What never changes (a snapshot's tree) is given to
// the kernel with long cache timeouts and files keep their page cache between opens (no
// direct_io), so repeated and small reads (pg_restore, tar, sqlite3) are served by the kernel;
// the layout of snapshots is given with one-second timeouts, so new snapshots appear. Every
// listing is a READDIRPLUS one: `ls -l`, find and cp -a need no lookup per entry.
//
// Lifecycle: Start checks /dev/fuse and the mountpoint and mounts; Serve answers the kernel until
// the filesystem is unmounted (fusermount3 -u, umount) or Stop is called, then unmounts (lazily,
// as fusermount3 -u -z: a process still inside sees the mount gone).
//
// Thread-safety: Stop may be called from any thread, once Start has returned; the rest from one.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "fuse/snapshot_fs.h"
#include "repo/store/repository.h"

struct fuse_session;

namespace repo::mount {

struct MountOptions {
  std::string mountpoint;
  // Let other users in (needs user_allow_other in /etc/fuse.conf unless root); the kernel then
  // checks each node's mode and owner against them (default_permissions). Without it, only the
  // mounting user can enter (the kernel keeps out even root).
  bool allow_other = false;
  FsOptions fs;
};

class FuseMount {
 public:
  // Mounts `repo` (which must outlive the mount) at options.mountpoint. Errors, each one line:
  // InvalidArgument for a mountpoint that does not exist, is not a directory, is not empty or is
  // busy (a mount is there, or a stale one); IOError when /dev/fuse is missing or cannot be
  // opened, or the kernel refuses the mount (libfuse's reason is logged).
  static Result<std::unique_ptr<FuseMount>> Start(Repository& repo, const MountOptions& options);
  // Unmounts if still mounted.
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Serves the kernel until the filesystem is unmounted or Stop is called, then unmounts.
  // Brings the index cache up to date every minute meanwhile, so that other processes sharing it
  // find what was written since. Returns the loop's error, if any.
  Status Serve();
  // Makes Serve return (and unmount): before Serve, it then does not serve; while serving, waits
  // until libfuse's loop has ended.
  void Stop();

  SnapshotFs& fs() { return *fs_; }

 private:
  FuseMount() = default;

  Repository* repo_ = nullptr;
  std::string mountpoint_;
  std::unique_ptr<SnapshotFs> fs_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;

  std::mutex mu_;
  bool stop_ = false;
  bool serving_ = false;
  bool loop_done_ = false;          // libfuse's loop has returned
  unsigned long serve_thread_ = 0;  // pthread_t of the thread in Serve
};

}  // namespace repo::mount
