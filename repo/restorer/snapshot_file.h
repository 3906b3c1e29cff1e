// SnapshotFile: one file of a snapshot read at any offset, for readers that seek (the mount:
// pg_restore, tar, sqlite3 and the kernel's page cache reading a file through fuse/).
//
// A read locates only the runs it covers: the file's content list (tree_io.h ContentReader) is
// searched by offset with one blob load per level, and the runs found are located a window at a
// time with one batched index lookup. Their blobs come from a BlobCache shared by every open file,
// which fetches each once through the read seam. Holes read as zeros and fetch nothing.
//
// Readahead: a read that starts where the previous one ended (or close to it: the kernel sends
// its readahead out of order) counts as sequential. Once a reader has read a few MiB in
// sequence, the blobs of up to `readahead` bytes ahead of it are queued for the cache's prefetch
// threads, so a sequential reader finds its blobs fetched, opened and re-hashed on the other
// cores, while one that seeks and reads a little fetches only what it reads.
//
// Thread-safety: Read may be called concurrently (the kernel reads one open file on several
// threads); the cache, the repository and the store must outlive the file.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/model/tree_io.h"
#include "repo/restorer/blob_cache.h"
#include "repo/store/blob_store.h"

namespace repo {

// What a read returned: `pieces`, in order, are the bytes; they point into blobs `hold` keeps
// alive (and into a static page of zeros for holes).
struct FileRead {
  std::vector<ByteSpan> pieces;
  std::vector<BlobCache::Blob> hold;
  uint64_t size() const;
  // The bytes as one buffer (for tests and callers that want a copy).
  Bytes Join() const;
};

class SnapshotFile {
 public:
  // Readahead for sequential readers, by default.
  static constexpr uint64_t kDefaultReadahead = 8u << 20;

  // `file`: a file node; `path` names it in messages. `readahead`: bytes fetched ahead of a
  // sequential reader (0: none).
  SnapshotFile(BlobStore& store, BlobCache& cache, Node file, std::string path,
               uint64_t readahead = kDefaultReadahead);

  const Node& node() const { return file_; }

  // The bytes [offset, offset + size) of the file, fewer only where the file ends (none at or
  // past its end), into *out (replaced). Errors: Corruption naming the file and the offset of
  // content that is lost (a blob not in the index, one that fails verification, a damaged
  // content list); the backend's errors (a pack that is gone) with the same context.
  Status Read(uint64_t offset, uint64_t size, FileRead* out);

 private:
  // A run of the file located: where it starts in the file, and its blob's location (none for a
  // hole).
  struct Located {
    uint64_t offset = 0;
    ContentRun run;
    std::optional<BlobLocation> loc;
  };
  // Makes window_ hold the runs covering [begin, end) (end clipped to the file's size), reading
  // and locating more, or seeking first when `begin` is not in or right after the window.
  // REQUIRES: mu_ held.
  Status CoverLocked(uint64_t begin, uint64_t end);
  // The blobs of the data runs of window_ overlapping [begin, end), in order.
  // REQUIRES: mu_ held and window_ covers them.
  std::vector<IndexEntry> BlobsLocked(uint64_t begin, uint64_t end) const;
  Status LostAt(uint64_t offset, const Status& s) const;

  BlobStore& store_;
  BlobCache& cache_;
  const Node file_;
  const std::string path_;
  const uint64_t readahead_;

  std::mutex mu_;
  ContentReader content_;       // positioned after the window's last run
  std::deque<Located> window_;  // runs located, contiguous, in file order
  uint64_t last_end_ = 0;       // where the last read ended
  uint64_t ahead_until_ = 0;    // what readahead has queued up to
  uint64_t streak_ = 0;         // bytes read in sequence since the last seek
};

}  // namespace repo
