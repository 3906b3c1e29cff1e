// BlobStore: content-addressed storage of blobs in packs, with deduplication.
//
// Write ordering (docs/design.md, "Write path"): a blob is sealed into the open pack; a full pack
// is verified and written durably; only then are its entries written into an index file, durably;
// only then are they added to the local index cache. So the cache never points at a blob whose
// pack or index file might be missing after a crash, and a crash at any point leaves a
// repository that checks clean (at worst a pack no index lists, which `repair index` adopts).
//
// Thread-safety: Put, Get, Find and Flush may be called concurrently. Hashing, compression,
// encryption, sealing and writing a full pack, and writing an index file and adding it to the
// cache all run outside the store's lock, so one thread's write (with its fsync) does not stall
// the others. A store whose write failed
// refuses further writes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "crypto/master_keys.h"
#include "index/blob_location.h"
#include "index/index_cache.h"
#include "repo/storage/backend.h"
#include "repo/store/config.h"
#include "repo/store/pack.h"

namespace repo {

// Whether a failed read is damage to the repository (a file or blob missing, or not as it was
// written), which check, restore and the repairs report and go on beside, rather than a failure
// of the storage or a newer format, which stops them.
inline bool IsDamage(const Status& s) { return s.IsNotFound() || s.IsCorruption(); }

struct PutResult {
  Id id;
  bool stored = false;        // false: the repository already had it (deduplicated)
  uint64_t stored_bytes = 0;  // sealed bytes added to a pack
};

struct BlobStoreStats {
  uint64_t packs_written = 0;
  uint64_t index_files_written = 0;
  uint64_t blobs_stored = 0;
  uint64_t blobs_deduplicated = 0;
  uint64_t bytes_stored = 0;  // sealed bytes written into packs
};

class BlobStore {
 public:
  // All references must outlive the store.
  BlobStore(Backend& backend, const MasterKeys& keys, const RepositoryConfig& config,
            IndexCache& cache);
  // Does not flush: blobs not yet flushed are simply not in the repository.
  ~BlobStore();

  // Stores `plaintext` unless a blob with its id exists. Returns its id.
  Result<PutResult> Put(BlobType type, ByteSpan plaintext);
  // Put of each plaintext in turn into results[i], with their ids hashed as one batch (several
  // at a time: ComputeBlobIds). Stops at the first error, which it returns, as that Put would
  // (results are then unspecified). REQUIRES: results.size() == plaintexts.size().
  Status PutMany(BlobType type, std::span<const ByteSpan> plaintexts, std::span<PutResult> results);
  // The plaintext of blob `id`, verified against its id. NotFound if no index lists it.
  Result<Bytes> Get(BlobType type, const Id& id);
  // Where blob `id` is stored, if it is (written packs only).
  Result<std::optional<BlobLocation>> Find(const Id& id);
  // Find for many ids at once (one batched cache lookup): (*out)[i] is where ids[i] is.
  Status FindMany(std::span<const Id> ids, std::vector<std::optional<BlobLocation>>* out);
  // For a reader of nearly every indexed blob in id order (`repo check`): the index cache's
  // ordered pass (IndexCache::ReadSorted). Blobs not found there are worth a FindMany, which
  // re-lists the index.
  Result<std::unique_ptr<IndexCache::SortedReader>> ReadSorted() { return cache_.ReadSorted(); }
  // Called once when a read (Get, Find, FindMany) misses, before it gives up on the ids it missed:
  // brings the index cache up to date with the index files other processes wrote since, so that
  // a long-running process finds their blobs (Repository sets it). Writes never call it (a miss
  // is the common case there; another process's blob stored again costs only space).
  void SetRefresher(std::function<Status()> refresh) { refresh_ = std::move(refresh); }

  // Writes the open pack and an index file for every pack not yet indexed. After OK, every
  // blob Put so far is durable and findable by other processes, including one whose Put
  // returned as a duplicate of a blob another thread's Put was still adding (Flush waits for it).
  Status Flush();

  BlobStoreStats stats() const;

  // Entries indexed per index file before the store writes one mid-run.
  static constexpr size_t kIndexFileEntries = 32768;

 private:
  // Put of a blob whose id is known and was looked up in the cache (`cached`) without the lock,
  // when the store's index_generation_ was `generation`. An index file written since moves
  // entries from unindexed_ into the cache, where that lookup may have missed them: then the
  // cache is asked again. REQUIRES: id == ComputeBlobId(keys_, type, plaintext).
  Result<PutResult> PutLooked(BlobType type, const Id& id, ByteSpan plaintext,
                              std::optional<BlobLocation> cached, uint64_t generation);
  // Seals and writes `pack` (no lock held), then records its entries (lock taken).
  Status WritePack(std::unique_ptr<PackWriter> pack, std::unique_lock<std::mutex>& lock);
  // Waits for pack writes in flight, then writes the open pack. REQUIRES: lock holds mu_.
  Status WriteOpenPack(std::unique_lock<std::mutex>& lock);
  // Writes the pending entries' index file, then adds them to the cache (no lock held while it
  // does). REQUIRES: lock holds mu_; holds it again on return.
  Status WriteIndex(std::unique_lock<std::mutex>& lock);
  Status FailLocked(Status s);
  // Makes sure there is an open pack, in the spare buffer if there is one; if none is free and
  // kMaxPackBuffers exist, waits for a pack being written to give its buffer back. Returns
  // broken_ if the store failed meanwhile. REQUIRES: lock holds mu_.
  Status OpenPackLocked(std::unique_lock<std::mutex>& lock);

  Backend& backend_;
  const MasterKeys& keys_;
  const RepositoryConfig& config_;
  IndexCache& cache_;
  std::function<Status()> refresh_;  // set before use, then only read

  mutable std::mutex mu_;
  // Signalled when a pack or index file write finishes, and when adds_in_progress_ drops to 0.
  std::condition_variable written_;
  Status broken_;                     // first write error; refuses further writes
  // Pack buffers (each the pack size plus a blob) are the largest part of a snapshot's memory,
  // so there are at most two: the open pack's and the one being written. A full pack is
  // written by the thread that filled it, and the next Put opens a pack in the written pack's
  // buffer once it is free. Put waits for it only when a pack fills before the previous one is
  // written, i.e. when the disk is slower than the pipeline (a third buffer would not make it
  // faster, and came and went with 16 MiB of RSS: docs/perf.md, "Memory against file size").
  static constexpr int kMaxPackBuffers = 2;
  std::unique_ptr<PackWriter> pack_;  // the open pack; null after one is written, until a Put
  int pack_buffers_;                  // pack buffers allocated and not yet freed
  // A written pack's buffer, reused by the next pack: fresh ones from malloc left a pack's worth
  // of freed memory in each thread's arena.
  std::optional<Bytes> spare_buffer_;
  int writes_in_flight_ = 0;  // packs and index files being written without the lock
  // Puts that have taken a blob in unindexed_ and not yet added it to a pack (encoding it, or
  // waiting for a pack buffer): a Put of the same content returns at once as a duplicate, so
  // Flush waits for these before it writes the open pack.
  int adds_in_progress_ = 0;
  // Blobs this store has taken but that the cache does not know yet: nullopt while they are
  // being encoded or sit in the open pack; their location once their pack is written.
  std::unordered_map<Id, std::optional<BlobLocation>, IdHash> unindexed_;
  std::vector<IndexEntry> pending_;  // entries of written packs awaiting an index file
  // Index files this store has added to the cache (changed under mu_): Put's unlocked cache
  // lookup is repeated if it changed meanwhile, so no blob is stored twice by one store.
  std::atomic<uint64_t> index_generation_{0};
  BlobStoreStats stats_;
};

}  // namespace repo
