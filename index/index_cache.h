// IndexCache: the local, rebuildable map blob id -> BlobLocation, in RocksDB.
//
// The repository's index files (repo/store/index_file.h) are authoritative; this cache only makes
// lookups fast and remembers which index files it has merged. Losing it costs a rebuild, never
// data. Layout and concurrency: docs/design.md, "Index cache".
//
// Several processes may use one cache directory at once. The first opens RocksDB read-write;
// a process that finds it locked opens it as a RocksDB secondary (read-only, never blocks the
// primary) and keeps whatever it adds in memory for its own lifetime. That overlay holds only the
// index files written since the primary last merged, so memory stays bounded by the delta, not
// the repository.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "index/blob_location.h"

namespace repo {

struct IndexCacheOptions {
  // RocksDB's LRU block cache: index partitions and data blocks (the filters are held by the
  // tables). A larger one only fills with data blocks of random ids read once each (a filter's
  // false positive sends ~1% of a backup's lookups to one): docs/perf.md, "Index cache at 50 M
  // blobs".
  size_t block_cache_bytes = 16 << 20;
  size_t write_buffer_bytes = 8 << 20;
  // For experiments (bench/index_scale.cc), empty in production: RocksDB option strings applied
  // over the built-in choices, in RocksDB's "name=value;..." syntax: `db_tuning` for DB and
  // column family options (GetOptionsFromString), `table_tuning` for the block-based table
  // (GetBlockBasedTableOptionsFromString). Open fails with InvalidArgument on a bad string.
  std::string db_tuning;
  std::string table_tuning;
};

class IndexCache {
 public:
  // Opens or creates the cache in directory `dir` for repository `repo_id`. A cache made for a
  // different repository, or by an incompatible cache version, is wiped and starts empty.
  static Result<std::unique_ptr<IndexCache>> Open(const std::string& dir, const Id& repo_id,
                                                  const IndexCacheOptions& options = {});
  virtual ~IndexCache() = default;

  // True when another process holds the cache and this one only reads it (plus its overlay).
  virtual bool shared() const = 0;

  // Who asks. kWrite: a writer's dedup lookups, mostly of absent ids and each asked once, whose
  // blocks (read when a filter answers "maybe": ~1% of absent ids) are not kept in the block
  // cache: at 50 M entries they filled it, 10-19 MiB of a snapshot's peak, for nothing.
  enum class Purpose { kRead, kWrite };
  // Location of `blob`, or nullopt if the cache does not know it.
  virtual Result<std::optional<BlobLocation>> Lookup(const Id& blob,
                                                     Purpose purpose = Purpose::kRead) = 0;
  // Batched lookup (RocksDB MultiGet): out[i] is the location of ids[i] or nullopt.
  virtual Status LookupMany(std::span<const Id> ids, std::vector<std::optional<BlobLocation>>* out,
                            Purpose purpose = Purpose::kRead) = 0;

  // Looks up ids given in ascending order in one pass over the cache in key order: for a reader
  // of nearly every entry (`repo check`), a step along the table instead of a search each. Sees
  // the cache as it was when made, plus what this process merges (shared mode's overlay).
  class SortedReader {
   public:
    virtual ~SortedReader() = default;
    // out[i] is the location of ids[i] or nullopt. REQUIRES: ids ascending, each above every id
    // of earlier calls on this reader.
    virtual Status Find(std::span<const Id> ids, std::vector<std::optional<BlobLocation>>* out) = 0;
  };
  virtual Result<std::unique_ptr<SortedReader>> ReadSorted() = 0;

  // Shared mode: reads what the primary has written since this process opened the cache (RocksDB
  // TryCatchUpWithPrimary). The primary: nothing to do.
  virtual Status CatchUp() = 0;

  struct KnownFiles {
    std::vector<Id> merged;      // merged, and not replaced since
    std::vector<Id> superseded;  // replaced by a merged file (merged before or not at all)
  };
  // The index files this cache knows.
  virtual Result<KnownFiles> KnownIndexFiles() = 0;
  // Applies index file `file`, atomically: removes the entries in `removed` where the cache
  // still has that blob in that pack, records `entries`, marks `file` merged and the files in
  // `supersedes` replaced (docs/format.md, "Index file").
  virtual Status AddIndexFile(const Id& file, std::span<const IndexEntry> entries,
                              std::span<const Id> supersedes = {},
                              std::span<const RemovedEntry> removed = {}) = 0;
  // Forgets everything (before a rebuild).
  virtual Status Clear() = 0;
  // Number of blob entries (an estimate for large caches).
  virtual uint64_t ApproximateBlobCount() = 0;
};

}  // namespace repo
