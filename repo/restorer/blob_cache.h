// BlobCache: opened data blobs kept for readers that come back to them, and fetched ahead of
// them: the mount's reads of a file at any offset and its readahead (fuse/, through
// snapshot_file.h). Blobs are fetched through the read seam (repo/store/pack_reader.h), so every
// blob a caller sees was authenticated, decompressed and re-hashed to its id.
//
// Memory is bounded: the cache holds at most `capacity` bytes of plaintext (least recently used
// go first; a fetch's blobs share one buffer, which counts whole until its last blob goes), plus
// the blobs callers still hold and those being fetched, and the prefetch queue holds at most
// kMaxQueuedPrefetch blobs' entries. A blob that fails to fetch is not kept: the next caller
// tries again.
//
// Thread-safety: every method may be called concurrently. A blob asked for by several callers
// at once is fetched once; the others wait for it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"
#include "index/blob_location.h"
#include "repo/store/pack_reader.h"
#include "repo/store/repository.h"

namespace repo {

struct BlobCacheStats {
  uint64_t hits = 0;           // blobs found in the cache (or being fetched by another caller)
  uint64_t fetched = 0;        // blobs fetched from the repository
  uint64_t fetched_bytes = 0;  // their sealed bytes: what was read from the repository
  uint64_t prefetched = 0;     // of `fetched`, those fetched ahead by the prefetch threads
};

class BlobCache {
 public:
  // A blob's plaintext, kept alive while held.
  struct Blob {
    std::shared_ptr<const void> owner;
    ByteSpan bytes;
  };

  // Most blobs waiting in the prefetch queue; more are dropped (a reader that outruns the
  // prefetchers fetches for itself).
  static constexpr size_t kMaxQueuedPrefetch = 8192;

  // `capacity`: plaintext bytes kept once no caller holds them. `prefetch_threads`: threads that
  // fetch what Prefetch queues (0: none; Prefetch then does nothing). `repo` must outlive the
  // cache.
  BlobCache(Repository& repo, uint64_t capacity, int prefetch_threads);
  // Stops the prefetch threads (a fetch in progress is finished first).
  ~BlobCache();
  BlobCache(const BlobCache&) = delete;
  BlobCache& operator=(const BlobCache&) = delete;

  // The plaintexts of `blobs` (data blobs, located), into (*out)[i] for blobs[i]: from the cache,
  // else fetched, runs of them back to back in a pack with one ranged read. Errors: the read
  // seam's (the backend's, naming the pack; Corruption naming a blob that fails verification)
  // for the first blob that could not be had; *out is then unspecified.
  Status Get(std::span<const IndexEntry> blobs, std::vector<Blob>* out);

  // Queues `blobs` for the prefetch threads, which fetch those not cached or being fetched
  // (in order, runs back to back in a pack together). Returns at once; never fails (a blob that
  // does not fetch is simply not cached, and its reader meets the error itself).
  void Prefetch(std::vector<IndexEntry> blobs);

  BlobCacheStats stats() const;

 private:
  // The plaintexts of the blobs one fetch read, side by side: opened in place by the read seam
  // (no allocation per blob, nothing zeroed first), as dump's pieces are.
  struct Block {
    std::unique_ptr<uint8_t[]> bytes;
    size_t size = 0;
    int listed = 0;  // slots of it in lru_: it counts in cached_bytes_ while there are any
  };
  struct Slot {
    std::shared_ptr<Block> block;  // once ready and fetched fine
    ByteSpan data;                 // in `block`
    Status status;
    bool ready = false;
    bool listed = false;             // in lru_ (ready, fetched fine, not evicted)
    std::list<Id>::iterator in_lru;  // when listed
  };

  // Fetches the blobs of `entries` whose slots `slots` this caller created, fills them and
  // marks them ready (each with its own status), then wakes the waiters.
  void Fetch(const std::vector<IndexEntry>& entries,
             const std::vector<std::shared_ptr<Slot>>& slots, bool prefetch);
  // Keeps `slot` (ready, fine) as most recently used. REQUIRES: mu_ held.
  void KeepLocked(const Id& id, const std::shared_ptr<Slot>& slot);
  // Evicts least recently used slots until the cache is within its capacity.
  // REQUIRES: mu_ held.
  void EvictLocked();
  std::unique_ptr<PackReader> TakeReader();
  void GiveBackReader(std::unique_ptr<PackReader> reader);
  void PrefetchLoop();

  Repository& repo_;
  const uint64_t capacity_;

  mutable std::mutex mu_;
  std::condition_variable ready_;                                // a slot became ready
  std::unordered_map<Id, std::shared_ptr<Slot>, IdHash> slots_;  // cached and being fetched
  std::list<Id> lru_;  // ready slots, most recently used first
  uint64_t cached_bytes_ = 0;
  std::vector<std::unique_ptr<PackReader>> readers_;  // idle readers, kept for their buffers
  BlobCacheStats stats_;

  std::condition_variable queued_;  // the prefetch queue got work, or stop_
  std::deque<std::vector<IndexEntry>> queue_;
  size_t queued_blobs_ = 0;
  bool stop_ = false;
  std::vector<std::jthread> prefetchers_;  // last: joined first
};

}  // namespace repo
