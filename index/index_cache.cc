#include "index/index_cache.h"

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace repo {
namespace {

constexpr char kBlobPrefix = 'b';
constexpr char kFilePrefix = 'f';
constexpr char kRepoIdKey[] = "m:repo";
constexpr char kVersionKey[] = "m:version";
// 2: partitioned Ribbon filters; 3: universal compaction, whole-table filters (docs/format.md)
constexpr char kCacheVersion[] = "3";
constexpr size_t kValueSize = Id::kSize + 14;
// The value of a file key: "" for a merged index file, this for one replaced by a merged file.
constexpr char kSupersededMark[] = "s";

#if defined(__SANITIZE_THREAD__)
#define REPO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define REPO_TSAN 1
#endif
#endif
#ifdef REPO_TSAN
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

// In a ThreadSanitizer build (REPO_SANITIZE=thread), memory accesses while it lives are not
// checked; elsewhere it does nothing. Held while a WriteBatch is built and written: RocksDB (not
// instrumented) commits concurrent writes as a group, the leader thread copying the other
// threads' batches, handed over through atomics TSan cannot see; the batches are RocksDB's
// memory, reached through our std::string instances, so TSan reported races on them with no
// RocksDB frame to suppress (.ci/tsan.supp has the rest of RocksDB).
class RocksWriteScope {
 public:
  RocksWriteScope() {
#ifdef REPO_TSAN
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
  }
  ~RocksWriteScope() {
#ifdef REPO_TSAN
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
#endif
  }
  RocksWriteScope(const RocksWriteScope&) = delete;
  RocksWriteScope& operator=(const RocksWriteScope&) = delete;
};

std::string Key(char prefix, const Id& id) {
  std::string k(1 + Id::kSize, prefix);
  std::memcpy(k.data() + 1, id.data(), Id::kSize);
  return k;
}

std::string EncodeValue(const BlobLocation& loc) {
  Bytes b;
  ByteWriter w(&b);
  w.Raw(loc.pack.span());
  w.U8(static_cast<uint8_t>(loc.type));
  w.U8(loc.flags);
  w.U32(loc.offset);
  w.U32(loc.length);
  w.U32(loc.raw_length);
  return std::string(AsChars(b));
}

std::optional<BlobLocation> DecodeValue(std::string_view v) {
  if (v.size() != kValueSize) return std::nullopt;
  ByteReader r(AsBytes(v));
  BlobLocation loc;
  ByteSpan pack;
  uint8_t type;
  r.Raw(Id::kSize, &pack);
  r.U8(&type);
  r.U8(&loc.flags);
  r.U32(&loc.offset);
  r.U32(&loc.length);
  r.U32(&loc.raw_length);
  if (!IsKnownBlobType(type)) return std::nullopt;
  loc.pack = Id::FromSpan(pack);
  loc.type = static_cast<BlobType>(type);
  return loc;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsCorruption()) {
    return Status::Corruption(what + ": " + s.ToString() +
                              " (the cache is rebuildable: delete it)");
  }
  return Status::IOError(what + ": " + s.ToString());
}

class RocksIndexCache final : public IndexCache {
 public:
  // A null `db` makes a private in-memory cache (shared mode with nothing to read).
  RocksIndexCache(std::unique_ptr<rocksdb::DB> db, bool shared, std::string secondary_dir)
      : db_(std::move(db)),
        shared_(shared),
        secondary_dir_(std::move(secondary_dir)),
        ignore_db_(db_ == nullptr) {}
  ~RocksIndexCache() override {
    // The primary writes its memtable out on close: otherwise the next opener replays the
    // write-ahead log entry by entry first (0.1-0.2 s after a large snapshot, on every command).
    // A failed flush costs only that replay.
    if (db_ && !shared_) db_->Flush(rocksdb::FlushOptions()).PermitUncheckedError();
    db_.reset();
    if (!secondary_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(secondary_dir_, ec);
    }
  }

  bool shared() const override { return shared_; }

  // One id: the same as LookupMany, but a Get without MultiGet's per-call setup and vectors (a
  // snapshot asks once per chunk; that setup was half of the lookup's cost).
  Result<std::optional<BlobLocation>> Lookup(const Id& blob, Purpose purpose) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = overlay_.find(blob);
      if (it != overlay_.end()) return std::optional<BlobLocation>(it->second);
      if (ignore_db_) return std::optional<BlobLocation>();
    }
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        db_->Get(ReadFor(purpose), db_->DefaultColumnFamily(), Key(kBlobPrefix, blob), &value);
    if (s.IsNotFound()) return std::optional<BlobLocation>();
    RETURN_IF_ERROR(FromRocks(s, "index cache lookup"));
    ASSIGN_OR_RETURN(BlobLocation loc, DecodeFound(blob, value.ToStringView()));
    if (Removed(blob, loc)) return std::optional<BlobLocation>();
    return std::optional<BlobLocation>(loc);
  }

  Status LookupMany(std::span<const Id> ids, std::vector<std::optional<BlobLocation>>* out,
                    Purpose purpose) override {
    out->assign(ids.size(), std::nullopt);
    std::vector<size_t> ask;  // indexes still to look up in RocksDB
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < ids.size(); ++i) {
        auto it = overlay_.find(ids[i]);
        if (it != overlay_.end()) {
          (*out)[i] = it->second;
        } else if (!ignore_db_) {
          ask.push_back(i);
        }
      }
    }
    if (ask.empty()) return Status::OK();
    std::vector<std::string> keys(ask.size());
    std::vector<rocksdb::Slice> slices(ask.size());
    for (size_t j = 0; j < ask.size(); ++j) {
      keys[j] = Key(kBlobPrefix, ids[ask[j]]);
      slices[j] = keys[j];
    }
    std::vector<rocksdb::PinnableSlice> values(ask.size());
    std::vector<rocksdb::Status> statuses(ask.size());
    db_->MultiGet(ReadFor(purpose), db_->DefaultColumnFamily(), ask.size(), slices.data(),
                  values.data(), statuses.data());
    for (size_t j = 0; j < ask.size(); ++j) {
      if (statuses[j].IsNotFound()) continue;
      RETURN_IF_ERROR(FromRocks(statuses[j], "index cache lookup"));
      ASSIGN_OR_RETURN(BlobLocation loc, DecodeFound(ids[ask[j]], values[j].ToStringView()));
      if (!Removed(ids[ask[j]], loc)) (*out)[ask[j]] = loc;
    }
    return Status::OK();
  }

  class RocksSortedReader final : public SortedReader {
   public:
    explicit RocksSortedReader(RocksIndexCache& cache) : cache_(cache) {
      if (cache_.ignore_db_) return;
      rocksdb::ReadOptions ro;
      ro.fill_cache = false;  // each block is passed once
      ro.readahead_size = 1 << 20;
      it_.reset(cache_.db_->NewIterator(ro));
    }

    Status Find(std::span<const Id> ids, std::vector<std::optional<BlobLocation>>* out) override {
      out->assign(ids.size(), std::nullopt);
      {
        std::lock_guard<std::mutex> lock(cache_.mu_);
        for (size_t i = 0; i < ids.size(); ++i) {
          auto found = cache_.overlay_.find(ids[i]);
          if (found != cache_.overlay_.end()) (*out)[i] = found->second;
        }
      }
      if (!it_) return Status::OK();
      for (size_t i = 0; i < ids.size(); ++i) {
        if ((*out)[i]) continue;
        const std::string key = Key(kBlobPrefix, ids[i]);
        const rocksdb::Slice want(key);
        // Step along while the next id is near (every entry is wanted, or most); seek past gaps.
        int steps = 0;
        if (!started_) {
          it_->Seek(want);
          started_ = true;
        }
        while (it_->Valid() && it_->key().compare(want) < 0) {
          if (++steps > 16) {
            it_->Seek(want);
            break;
          }
          it_->Next();
        }
        if (!it_->Valid()) {
          RETURN_IF_ERROR(FromRocks(it_->status(), "index cache: reading in order"));
          continue;
        }
        if (it_->key().compare(want) != 0) continue;
        ASSIGN_OR_RETURN(BlobLocation loc, DecodeFound(ids[i], it_->value().ToStringView()));
        if (!cache_.Removed(ids[i], loc)) (*out)[i] = loc;
      }
      return Status::OK();
    }

   private:
    RocksIndexCache& cache_;
    std::unique_ptr<rocksdb::Iterator> it_;
    bool started_ = false;
  };

  Result<std::unique_ptr<SortedReader>> ReadSorted() override {
    return std::unique_ptr<SortedReader>(std::make_unique<RocksSortedReader>(*this));
  }

  static rocksdb::ReadOptions ReadFor(Purpose purpose) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = purpose == Purpose::kRead;
    return ro;
  }

  // Shared mode: whether an index file this process applied removed `blob` from `loc`'s pack.
  bool Removed(const Id& blob, const BlobLocation& loc) {
    if (!shared_) return false;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = overlay_removed_.find(blob);
    return it != overlay_removed_.end() && it->second == loc.pack;
  }

  Status CatchUp() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!shared_ || ignore_db_) return Status::OK();
    }
    return FromRocks(db_->TryCatchUpWithPrimary(), "index cache: catching up with the primary");
  }

  // The location stored for `blob`, or Corruption if the entry is malformed.
  static Result<BlobLocation> DecodeFound(const Id& blob, std::string_view value) {
    auto loc = DecodeValue(value);
    if (!loc) {
      return Status::Corruption("index cache: malformed entry for blob " + blob.ShortHex() +
                                " (delete the cache to rebuild it)");
    }
    return *loc;
  }

  Result<KnownFiles> KnownIndexFiles() override {
    std::unordered_map<Id, bool, IdHash> state;  // file -> superseded
    std::unique_lock<std::mutex> lock(mu_);
    if (!ignore_db_) {
      lock.unlock();
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
      std::string prefix(1, kFilePrefix);
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        if (it->key().size() != 1 + Id::kSize) continue;
        state[Id::FromSpan(AsBytes(it->key().ToStringView().substr(1)))] =
            it->value() == kSupersededMark;
      }
      RETURN_IF_ERROR(FromRocks(it->status(), "index cache: listing merged index files"));
      lock.lock();
    }
    for (const auto& [id, superseded] : overlay_files_) state[id] = superseded;  // the newer
    KnownFiles files;
    for (const auto& [id, superseded] : state) {
      (superseded ? files.superseded : files.merged).push_back(id);
    }
    return files;
  }

  Status AddIndexFile(const Id& file, std::span<const IndexEntry> entries,
                      std::span<const Id> supersedes,
                      std::span<const RemovedEntry> removed) override {
    if (shared_) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const RemovedEntry& r : removed) {
        auto it = overlay_.find(r.blob);
        if (it != overlay_.end() && it->second.pack == r.pack) overlay_.erase(it);
        overlay_removed_[r.blob] = r.pack;  // hides the primary's entry in that pack
      }
      for (const IndexEntry& e : entries) overlay_[e.blob] = e.loc;
      overlay_files_[file] = false;
      for (const Id& s : supersedes) overlay_files_[s] = true;
      return Status::OK();
    }
    // Removals read before they write: one file applied at a time, so that no entry added
    // meanwhile is taken for the removed one.
    std::lock_guard<std::mutex> applying(apply_mu_);
    RocksWriteScope scope;
    rocksdb::WriteBatch batch;
    if (!removed.empty()) {
      std::vector<Id> blobs;
      for (const RemovedEntry& r : removed) blobs.push_back(r.blob);
      std::vector<std::optional<BlobLocation>> found;
      RETURN_IF_ERROR(LookupMany(blobs, &found, Purpose::kRead));
      // First in the batch: the file's own entries, after them, win over its removals.
      for (size_t i = 0; i < removed.size(); ++i) {
        if (found[i] && found[i]->pack == removed[i].pack) {
          batch.Delete(Key(kBlobPrefix, removed[i].blob));
        }
      }
    }
    for (const IndexEntry& e : entries) batch.Put(Key(kBlobPrefix, e.blob), EncodeValue(e.loc));
    batch.Put(Key(kFilePrefix, file), "");
    for (const Id& s : supersedes) batch.Put(Key(kFilePrefix, s), kSupersededMark);
    return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "index cache: write");
  }

  Status Clear() override {
    std::lock_guard<std::mutex> lock(mu_);
    overlay_.clear();
    overlay_files_.clear();
    overlay_removed_.clear();
    if (shared_) {
      ignore_db_ = true;  // the primary's view is stale for us; rebuild in memory
      return Status::OK();
    }
    RocksWriteScope scope;
    rocksdb::WriteBatch batch;
    batch.DeleteRange(std::string(1, kBlobPrefix), std::string(1, kBlobPrefix + 1));
    batch.DeleteRange(std::string(1, kFilePrefix), std::string(1, kFilePrefix + 1));
    RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "index cache: clear"));
    return FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr),
                     "index cache: compact");
  }

  // Primary only: wipes everything and records which repository and cache version this is.
  Status Reset(const Id& repo_id) {
    RETURN_IF_ERROR(Clear());
    RocksWriteScope scope;
    rocksdb::WriteBatch batch;
    batch.Put(kRepoIdKey, std::string(AsChars(repo_id.span())));
    batch.Put(kVersionKey, kCacheVersion);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &batch), "index cache: writing header");
  }

  uint64_t ApproximateBlobCount() override {
    uint64_t n = 0;
    if (db_) db_->GetIntProperty("rocksdb.estimate-num-keys", &n);
    std::lock_guard<std::mutex> lock(mu_);
    return (ignore_db_ ? 0 : n) + overlay_.size();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  const bool shared_;
  const std::string secondary_dir_;
  std::mutex mu_;
  bool ignore_db_;  // no database, or shared mode after Clear()
  std::unordered_map<Id, BlobLocation, IdHash> overlay_;
  // Shared mode: entries removed by index files this process applied, which the primary's
  // database may still hold (blob -> pack).
  std::unordered_map<Id, Id, IdHash> overlay_removed_;
  std::unordered_map<Id, bool, IdHash> overlay_files_;  // index file -> superseded
  std::mutex apply_mu_;  // the primary applies one index file at a time
};

Result<rocksdb::Options> MakeOptions(const IndexCacheOptions& o) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kNoCompression;  // keys and values are random bytes
  options.write_buffer_size = o.write_buffer_bytes;
  options.max_write_buffer_number = 2;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 2;
  options.max_open_files = -1;  // required for secondaries; the cache has few files
  // A bloom filter over the memtable too: a snapshot's lookups are mostly of ids that are not
  // there, and without it each one walks the memtable's skiplist (~2% of a snapshot's CPU).
  options.memtable_whole_key_filtering = true;
  options.memtable_prefix_bloom_size_ratio = 0.05;
  // Chosen end to end at 11 M entries and with bench/index_scale (docs/perf.md, "Index cache at
  // 50 M blobs"). Keys are random ids, so every leveled compaction overlaps a whole level and
  // wrote each entry ~15 times: compaction was most of what ingest into a large repository paid
  // over an empty one. Universal compaction merges whole sorted runs of similar size instead
  // (each entry written a few times; a cold rebuild of 11 M entries 31 s instead of 76 s), at
  // the price of a few more sorted runs for a lookup to probe.
  options.compaction_style = rocksdb::kCompactionStyleUniversal;
  // In universal compaction this counts sorted runs, not L0 files. At RocksDB's 4, a cache of a
  // few large runs was at the limit on every memtable flush, and each flush was merged into the
  // newest large run, rewriting it again and again while a snapshot ran (the cache's LOG).
  options.level0_file_num_compaction_trigger = 8;
  // Compactions cut their output into 32 MiB tables (~0.4 M entries): building a table's whole
  // filter holds every key's hash and then the Ribbon solver's rows, ~22 MB at RocksDB's 64 MiB,
  // the largest single part of a snapshot's peak at 11 M blobs (heaptrack).
  options.target_file_size_base = 32 << 20;
  // Each sorted run's probe is then made cheap: a whole-key filter per table (32 MiB, ~0.4 M
  // entries, a ~0.35 MiB filter), held by the table reader outside the block cache, answers a
  // lookup of an absent id (most of a backup's lookups) with one probe, without a block-cache
  // lookup or a filter partition's index (0.9 us instead of 2.2 at 12 M entries). They take
  // ~0.9 byte per entry (Ribbon filters, ~30% less than Bloom at the same 1% false positives;
  // Bloom for memtable flushes, whose tables are short-lived), 45 MB at 50 M entries.
  // optimize_filters_for_hits stays off: it drops the last run's filters, which absent ids need
  // most.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(o.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewRibbonFilterPolicy(10));
  table.whole_key_filtering = true;
  table.cache_index_and_filter_blocks = false;
  // The index is partitioned into 4 KiB blocks kept in the block cache, with its small top level
  // held by the table: a lookup of a present id (restore, dump) reads one index partition and
  // one data block, and the index of 50 M entries (~40 MB) need not stay in memory.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.metadata_block_size = 4096;
  table.optimize_filters_for_memory = true;
  table.format_version = 5;
  rocksdb::ConfigOptions config;
  config.ignore_unknown_options = false;
  if (!o.table_tuning.empty()) {
    rocksdb::BlockBasedTableOptions tuned;
    rocksdb::Status s =
        rocksdb::GetBlockBasedTableOptionsFromString(config, table, o.table_tuning, &tuned);
    if (!s.ok()) return Status::InvalidArgument("index cache table tuning: " + s.ToString());
    table = tuned;
  }
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (!o.db_tuning.empty()) {
    rocksdb::Options tuned;
    rocksdb::Status s = rocksdb::GetOptionsFromString(config, options, o.db_tuning, &tuned);
    if (!s.ok()) return Status::InvalidArgument("index cache DB tuning: " + s.ToString());
    options = tuned;
  }
  return options;
}

bool IsLockError(const rocksdb::Status& s) {
  return s.IsIOError() && s.ToString().find("lock") != std::string::npos;
}

}  // namespace

Result<std::unique_ptr<IndexCache>> IndexCache::Open(const std::string& dir, const Id& repo_id,
                                                     const IndexCacheOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("creating index cache directory " + dir + ": " + ec.message());
  ASSIGN_OR_RETURN(rocksdb::Options options, MakeOptions(o));
  const std::string db_path = dir + "/rocksdb";

  bool destroyed = false;
  for (int attempt = 0;; ++attempt) {
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, db_path, &raw);
    if (IsLockError(s)) {
      std::string secondary = dir + "/secondary." + std::to_string(getpid());
      s = rocksdb::DB::OpenAsSecondary(options, db_path, secondary, &raw);
      if (!s.ok()) {
        // The primary may be creating the database this very moment (no CURRENT file yet):
        // give it a moment, then make do with a private in-memory cache rather than fail.
        if (attempt < 50) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        std::error_code ignored;
        std::filesystem::remove_all(secondary, ignored);
        return std::unique_ptr<IndexCache>(std::make_unique<RocksIndexCache>(nullptr, true, ""));
      }
      std::unique_ptr<rocksdb::DB> db(raw);
      std::string got;
      rocksdb::Status g = db->Get(rocksdb::ReadOptions(), kRepoIdKey, &got);
      auto cache = std::make_unique<RocksIndexCache>(std::move(db), true, secondary);
      if (!g.ok() || got != AsChars(repo_id.span())) RETURN_IF_ERROR(cache->Clear());
      return std::unique_ptr<IndexCache>(std::move(cache));
    }
    if (!s.ok() && !destroyed && s.IsCorruption()) {
      rocksdb::DestroyDB(db_path, options);  // the cache is rebuildable
      destroyed = true;
      continue;
    }
    RETURN_IF_ERROR(FromRocks(s, "opening index cache " + db_path));
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string got_repo, got_version;
    rocksdb::Status g1 = db->Get(rocksdb::ReadOptions(), kRepoIdKey, &got_repo);
    rocksdb::Status g2 = db->Get(rocksdb::ReadOptions(), kVersionKey, &got_version);
    const bool current =
        g1.ok() && g2.ok() && got_repo == AsChars(repo_id.span()) && got_version == kCacheVersion;
    if (!current && (g1.ok() || g2.ok()) && !destroyed) {
      // Another repository's cache, or an older version's tables (built with other options):
      // start from nothing rather than delete and compact away every old entry.
      db.reset();
      rocksdb::DestroyDB(db_path, options);
      destroyed = true;
      continue;
    }
    auto cache = std::make_unique<RocksIndexCache>(std::move(db), false, "");
    if (!current) RETURN_IF_ERROR(cache->Reset(repo_id));
    return std::unique_ptr<IndexCache>(std::move(cache));
  }
}

}  // namespace repo
