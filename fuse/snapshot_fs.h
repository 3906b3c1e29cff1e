// SnapshotFs: the mounted filesystem as plain calls, without libfuse (fuse_mount.h binds them to
// the kernel; tests call them directly). Read-only. The top is the layout of snapshots
// (snapshot_layout.h); below each snapshot directory, the snapshot's tree as stored: sizes,
// modes, owners, times, symlinks, devices and FIFOs as metadata, hardlink counts (hardlinked
// files share an inode number within a snapshot, so cp -a, tar and rsync -H keep them linked),
// and xattrs. Files are read through the read pipeline (repo/restorer/snapshot_file.h) with one
// BlobCache for the whole mount.
//
// Errors: NotFound for a name or inode that does not exist (ENOENT); InvalidArgument for a call
// that does not fit the node (EINVAL); anything else is the repository's (EIO, and worth a log
// line).
//
// Thread-safety: every method may be called concurrently; a DirStream or SnapshotFile by one
// caller at a time (a SnapshotFile's Read concurrently too).
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "fuse/snapshot_layout.h"
#include "fuse/tree_inodes.h"
#include "repo/restorer/blob_cache.h"
#include "repo/restorer/snapshot_file.h"
#include "repo/store/repository.h"

namespace repo::mount {

struct FsOptions {
  uint64_t cache_bytes = 64u << 20;  // opened chunks kept, beyond those being read
  // Readahead per sequential reader, at most a quarter of cache_bytes.
  uint64_t readahead = SnapshotFile::kDefaultReadahead;
  int prefetch_threads = 0;  // 0: one per core
  // How old the snapshot list may get before the top directories read it again.
  std::chrono::milliseconds refresh_after{1000};
};

// A node as the kernel sees it: its inode number and attributes. `stored`: a node of a
// snapshot's tree, which never changes (the kernel may cache it for long); else a node of the
// layout, which changes as snapshots come and go.
struct FsEntry {
  uint64_t ino = 0;
  struct stat attr {};
  bool stored = false;
};

// A directory's entries, read in name order (without "." and "..").
class DirStream {
 public:
  virtual ~DirStream() = default;
  // The next entry into *name and *entry; false at the end.
  virtual Result<bool> Next(std::string* name, FsEntry* entry) = 0;
};

class SnapshotFs {
 public:
  // REQUIRES: `repo` outlives the filesystem. Opens the repository's blob store.
  static Result<std::unique_ptr<SnapshotFs>> Open(Repository& repo, const FsOptions& options);

  Result<FsEntry> Lookup(uint64_t parent, const std::string& name);
  Result<FsEntry> GetAttr(uint64_t ino);
  // InvalidArgument unless `ino` is a symlink.
  Result<std::string> ReadLink(uint64_t ino);
  // The extended attributes of `ino`, sorted by name.
  Result<std::vector<std::pair<std::string, std::string>>> Xattrs(uint64_t ino);
  // InvalidArgument unless `ino` is a directory.
  Result<std::unique_ptr<DirStream>> OpenDir(uint64_t ino);
  // InvalidArgument unless `ino` is a regular file.
  Result<std::unique_ptr<SnapshotFile>> OpenFile(uint64_t ino);

  // The path of `ino` in the mount ("/snapshots/latest/etc/passwd" style), for log lines.
  std::string PathOf(uint64_t ino);

  BlobCacheStats cache_stats() const { return cache_.stats(); }

 private:
  SnapshotFs(Repository& repo, BlobStore& store, const FsOptions& options);
  // Attributes of the virtual node `n` (inode `ino`).
  FsEntry VirtualEntry(uint64_t ino, const VirtualNode& n);
  // Attributes of the stored node `n` (inode `ino`) under the snapshot directory `snapshot`.
  static FsEntry StoredEntry(uint64_t ino, uint64_t snapshot, const Node& n);
  // The stored node `ino`; errors name its path.
  Result<TreeInodes::NodeRef> Stored(uint64_t ino);
  // A directory's listing: its tree's root blobs and the inode of the snapshot it lies under.
  // InvalidArgument if `ino` is not a directory with a tree (the layout's lists itself).
  struct Listing {
    std::vector<Id> root;
    uint64_t snapshot = 0;
  };
  Result<std::optional<Listing>> ListingOf(uint64_t ino);

  friend class TreeDirStream;
  Repository& repo_;
  BlobStore& store_;
  const FsOptions options_;
  const uid_t uid_;
  const gid_t gid_;
  SnapshotLayout layout_;
  TreeInodes inodes_;
  BlobCache cache_;
};

}  // namespace repo::mount
