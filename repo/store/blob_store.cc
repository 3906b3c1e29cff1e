#include "repo/store/blob_store.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "crypto/hash.h"
#include "repo/store/blob_codec.h"
#include "repo/store/index_file.h"
#include "repo/store/metadata_store.h"
#include "repo/store/pack_reader.h"

namespace repo {

namespace {

// A pack is closed once it reaches the target size, so it holds at most the target plus one blob
// (≤ max chunk or a 1 MiB tree piece, sealed) plus its header and trailer.
size_t PackReserve(const RepositoryConfig& c) {
  return size_t{c.pack_size} + std::max<size_t>(c.chunker.max_size, 1 << 20) + (256 << 10);
}

// Ids looked up on one thread at most; a larger FindMany spreads over the cores.
constexpr size_t kLookupSlice = 1024;

// cache.LookupMany of `ids` into *out, in slices of at least kLookupSlice ids run on one thread
// per core: a lookup of an id whose index block is not in RocksDB's block cache costs a read and
// a checksum (most of `dump` at millions of small blobs: docs/perf.md, "Ingest and read at 1 KiB
// chunks").
Status LookupSpread(IndexCache& cache, std::span<const Id> ids,
                    std::vector<std::optional<BlobLocation>>* out) {
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                          ids.size() / kLookupSlice);
  if (threads <= 1) return cache.LookupMany(ids, out);
  out->assign(ids.size(), std::nullopt);
  const size_t per = (ids.size() + threads - 1) / threads;
  std::vector<Status> statuses(threads);
  std::vector<std::vector<std::optional<BlobLocation>>> parts(threads);
  {
    std::vector<std::jthread> helpers;
    for (size_t t = 1; t < threads; ++t) {
      helpers.emplace_back([&, t] {
        statuses[t] =
            cache.LookupMany(ids.subspan(t * per, std::min(per, ids.size() - t * per)), &parts[t]);
      });
    }
    statuses[0] = cache.LookupMany(ids.subspan(0, per), &parts[0]);
  }
  for (size_t t = 0; t < threads; ++t) {
    RETURN_IF_ERROR(statuses[t]);
    std::copy(parts[t].begin(), parts[t].end(), out->begin() + static_cast<ptrdiff_t>(t * per));
  }
  return Status::OK();
}

}  // namespace

BlobStore::BlobStore(Backend& backend, const MasterKeys& keys, const RepositoryConfig& config,
                     IndexCache& cache)
    : backend_(backend),
      keys_(keys),
      config_(config),
      cache_(cache),
      pack_(std::make_unique<PackWriter>(keys.enc_key, PackReserve(config))),
      pack_buffers_(1) {}

Status BlobStore::OpenPackLocked(std::unique_lock<std::mutex>& lock) {
  written_.wait(lock, [&] {
    return pack_ || spare_buffer_ || pack_buffers_ < kMaxPackBuffers || !broken_.ok();
  });
  RETURN_IF_ERROR(broken_);
  if (pack_) return Status::OK();
  if (spare_buffer_) {
    pack_ = std::make_unique<PackWriter>(keys_.enc_key, std::move(*spare_buffer_));
    spare_buffer_.reset();
  } else {
    pack_ = std::make_unique<PackWriter>(keys_.enc_key, PackReserve(config_));
    ++pack_buffers_;
  }
  return Status::OK();
}

BlobStore::~BlobStore() {
  std::unique_lock<std::mutex> lock(mu_);
  written_.wait(lock, [&] { return writes_in_flight_ == 0; });
}

Status BlobStore::FailLocked(Status s) {
  if (broken_.ok()) broken_ = s;
  written_.notify_all();  // Puts waiting for a pack buffer give up
  return s;
}

Result<PutResult> BlobStore::Put(BlobType type, ByteSpan plaintext) {
  const Id id = ComputeBlobId(keys_, type, plaintext);
  const uint64_t generation = index_generation_.load(std::memory_order_acquire);
  ASSIGN_OR_RETURN(auto cached, cache_.Lookup(id, IndexCache::Purpose::kWrite));
  return PutLooked(type, id, plaintext, cached, generation);
}

Status BlobStore::PutMany(BlobType type, std::span<const ByteSpan> plaintexts,
                          std::span<PutResult> results) {
  std::vector<Id> ids(plaintexts.size());
  ComputeBlobIds(keys_, type, plaintexts, ids);
  // One batched lookup (MultiGet) for all of them: its per-call cost is shared, and RocksDB
  // probes each table's filter for the whole batch at once.
  const uint64_t generation = index_generation_.load(std::memory_order_acquire);
  std::vector<std::optional<BlobLocation>> cached;
  RETURN_IF_ERROR(cache_.LookupMany(ids, &cached, IndexCache::Purpose::kWrite));
  for (size_t i = 0; i < plaintexts.size(); ++i) {
    ASSIGN_OR_RETURN(results[i], PutLooked(type, ids[i], plaintexts[i], cached[i], generation));
  }
  return Status::OK();
}

Result<PutResult> BlobStore::PutLooked(BlobType type, const Id& id, ByteSpan plaintext,
                                       std::optional<BlobLocation> cached, uint64_t generation) {
  if (plaintext.size() > config_.pack_size) {
    return Status::InvalidArgument("blob of " + std::to_string(plaintext.size()) +
                                   " bytes exceeds the pack size");
  }
  PutResult result;
  result.id = id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(broken_);
    if (!cached && generation != index_generation_.load(std::memory_order_relaxed)) {
      ASSIGN_OR_RETURN(cached, cache_.Lookup(result.id, IndexCache::Purpose::kWrite));
    }
    if (cached || !unindexed_.try_emplace(result.id, std::nullopt).second) {
      ++stats_.blobs_deduplicated;
      return result;
    }
    ++adds_in_progress_;
  }
  EncodedBlob blob = EncodeBlob(keys_, type, result.id, plaintext, config_.zstd_level);
  std::unique_lock<std::mutex> lock(mu_);
  Status opened = OpenPackLocked(lock);
  if (opened.ok()) pack_->Add(type, result.id, blob);
  if (--adds_in_progress_ == 0) written_.notify_all();  // a Flush may wait for it
  RETURN_IF_ERROR(opened);
  result.stored = true;
  result.stored_bytes = blob.sealed.size();
  ++stats_.blobs_stored;
  stats_.bytes_stored += blob.sealed.size();
  if (pack_->size() >= config_.pack_size) RETURN_IF_ERROR(WritePack(std::move(pack_), lock));
  return result;
}

Status BlobStore::WritePack(std::unique_ptr<PackWriter> pack, std::unique_lock<std::mutex>& lock) {
  ++writes_in_flight_;
  lock.unlock();
  auto finished = pack->Finish();
  Status s = finished.status();
  if (finished.ok()) {
    s = backend_.Write({FileType::kPack, finished->id.Hex()}, finished->bytes);
    // The same bytes under the same name: an identical pack already exists; fine.
    if (s.code() == StatusCode::kAlreadyExists) s = Status::OK();
    if (!s.ok()) s = s.WithContext("writing pack " + finished->id.ShortHex());
  }
  lock.lock();
  --writes_in_flight_;
  written_.notify_all();
  // The written pack's buffer becomes the spare (one already spare is freed; so is the buffer of
  // a pack whose Finish failed).
  if (!finished.ok() || spare_buffer_) --pack_buffers_;
  if (finished.ok()) spare_buffer_ = std::move(finished->bytes);
  if (!s.ok()) return FailLocked(s);
  ++stats_.packs_written;
  for (const IndexEntry& e : finished->entries) {
    unindexed_[e.blob] = e.loc;
    pending_.push_back(e);
  }
  if (pending_.size() >= kIndexFileEntries) return WriteIndex(lock);
  return Status::OK();
}

Status BlobStore::WriteOpenPack(std::unique_lock<std::mutex>& lock) {
  written_.wait(lock, [&] { return writes_in_flight_ == 0; });
  RETURN_IF_ERROR(broken_);
  if (!pack_ || pack_->count() == 0) return Status::OK();
  RETURN_IF_ERROR(WritePack(std::move(pack_), lock));
  // Another thread may have filled and started a pack while the lock was released.
  written_.wait(lock, [&] { return writes_in_flight_ == 0; });
  return broken_;
}

Status BlobStore::WriteIndex(std::unique_lock<std::mutex>& lock) {
  if (pending_.empty()) return Status::OK();
  // Written without the lock, like a pack: Puts go on meanwhile (an index file and its cache
  // entries take ~0.1 s). Its entries stay findable in unindexed_ until they are in the cache.
  std::vector<IndexEntry> entries = std::exchange(pending_, {});
  ++writes_in_flight_;
  lock.unlock();
  auto file_id = MetadataStore(backend_, keys_.enc_key)
                     .Write(FileType::kIndex, EncodeIndexFile(keys_.enc_key, entries));
  Status s = file_id.status();
  if (s.ok()) s = cache_.AddIndexFile(*file_id, entries);
  lock.lock();
  --writes_in_flight_;
  written_.notify_all();
  if (!s.ok()) return FailLocked(s);
  ++stats_.index_files_written;
  for (const IndexEntry& e : entries) unindexed_.erase(e.blob);
  index_generation_.fetch_add(1, std::memory_order_release);
  return Status::OK();
}

Status BlobStore::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  // A blob another thread is still adding may already have made a Put of the same content
  // return as a duplicate: it belongs in this Flush.
  written_.wait(lock, [&] { return adds_in_progress_ == 0 || !broken_.ok(); });
  RETURN_IF_ERROR(broken_);
  RETURN_IF_ERROR(WriteOpenPack(lock));
  RETURN_IF_ERROR(WriteIndex(lock));
  // Index files other threads are writing hold blobs Put before this Flush too.
  written_.wait(lock, [&] { return writes_in_flight_ == 0; });
  return broken_;
}

Result<std::optional<BlobLocation>> BlobStore::Find(const Id& id) {
  std::vector<std::optional<BlobLocation>> out;
  RETURN_IF_ERROR(FindMany(std::span<const Id>(&id, 1), &out));
  return out[0];
}

Status BlobStore::FindMany(std::span<const Id> ids, std::vector<std::optional<BlobLocation>>* out) {
  out->assign(ids.size(), std::nullopt);
  // Packs this store wrote whose index file the cache has not merged yet come first: an entry
  // only ever moves from there into the cache, so looking in this order misses nothing.
  std::vector<Id> ask;
  std::vector<size_t> where;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = unindexed_.find(ids[i]);
      if (it != unindexed_.end() && it->second) {
        (*out)[i] = it->second;
      } else {
        ask.push_back(ids[i]);
        where.push_back(i);
      }
    }
  }
  std::vector<std::optional<BlobLocation>> found;
  RETURN_IF_ERROR(LookupSpread(cache_, ask, &found));
  for (size_t k = 0; k < ask.size(); ++k) (*out)[where[k]] = found[k];
  if (!refresh_) return Status::OK();
  // Another process may have indexed the ids missed since the cache was brought up to date.
  std::vector<Id> missed;
  std::vector<size_t> missed_at;
  for (size_t k = 0; k < ask.size(); ++k) {
    if (!found[k]) {
      missed.push_back(ask[k]);
      missed_at.push_back(where[k]);
    }
  }
  if (missed.empty()) return Status::OK();
  RETURN_IF_ERROR(refresh_());
  RETURN_IF_ERROR(LookupSpread(cache_, missed, &found));
  for (size_t k = 0; k < missed.size(); ++k) (*out)[missed_at[k]] = found[k];
  return Status::OK();
}

Result<Bytes> BlobStore::Get(BlobType type, const Id& id) {
  std::optional<BlobLocation> loc;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = unindexed_.find(id);
    if (it != unindexed_.end()) {
      if (!it->second) {  // in the open pack or a pack being written: make it readable
        RETURN_IF_ERROR(broken_);
        RETURN_IF_ERROR(WriteOpenPack(lock));
      }
      it = unindexed_.find(id);  // gone from the map: indexed meanwhile, the cache has it
      if (it != unindexed_.end() && !it->second) {
        return Status::NotFound(std::string(BlobTypeName(type)) + " blob " + id.ShortHex() +
                                ": still being stored by another thread");
      }
      if (it != unindexed_.end()) loc = it->second;
    }
  }
  if (!loc) {
    ASSIGN_OR_RETURN(loc, cache_.Lookup(id));
  }
  if (!loc && refresh_) {  // another process may have indexed it since
    RETURN_IF_ERROR(refresh_());
    ASSIGN_OR_RETURN(loc, cache_.Lookup(id));
  }
  if (!loc)
    return Status::NotFound(std::string(BlobTypeName(type)) + " blob " + id.ShortHex() +
                            ": not in the index");
  if (loc->type != type) {
    return Status::Corruption("blob " + id.ShortHex() + ": indexed as " +
                              std::string(BlobTypeName(loc->type)) + ", wanted " +
                              std::string(BlobTypeName(type)));
  }
  PackReader reader(backend_, keys_);
  const IndexEntry entry{id, *loc};
  Bytes plain;
  RETURN_IF_ERROR(reader.Read({&entry, 1}, [&](size_t, Bytes& p) {
    plain = std::move(p);
    return Status::OK();
  }));
  return plain;
}

BlobStoreStats BlobStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace repo
