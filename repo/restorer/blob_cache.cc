#include "repo/restorer/blob_cache.h"

#include <utility>

namespace repo {
namespace {

// Idle readers kept for their buffers; more are dropped when given back.
constexpr size_t kIdleReaders = 8;

}  // namespace

BlobCache::BlobCache(Repository& repo, uint64_t capacity, int prefetch_threads)
    : repo_(repo), capacity_(capacity) {
  for (int i = 0; i < prefetch_threads; ++i) {
    prefetchers_.emplace_back([this] { PrefetchLoop(); });
  }
}

BlobCache::~BlobCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  queued_.notify_all();
  prefetchers_.clear();  // joins them
}

Status BlobCache::Get(std::span<const IndexEntry> blobs, std::vector<Blob>* out) {
  std::vector<std::shared_ptr<Slot>> slots(blobs.size());
  std::vector<IndexEntry> mine;  // blobs this call fetches: in no slot yet
  std::vector<std::shared_ptr<Slot>> mine_slots;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < blobs.size(); ++i) {
      auto [it, created] = slots_.try_emplace(blobs[i].blob);
      if (created) {
        it->second = std::make_shared<Slot>();
        mine.push_back(blobs[i]);
        mine_slots.push_back(it->second);
      } else {
        ++stats_.hits;
        if (it->second->listed) lru_.splice(lru_.begin(), lru_, it->second->in_lru);
      }
      slots[i] = it->second;
    }
  }
  if (!mine.empty()) Fetch(mine, mine_slots, false);
  std::unique_lock<std::mutex> lock(mu_);
  for (const auto& slot : slots) {
    ready_.wait(lock, [&] { return slot->ready; });
  }
  out->resize(blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    RETURN_IF_ERROR(slots[i]->status);
    (*out)[i] = Blob{slots[i], slots[i]->data};  // the slot keeps its block alive
  }
  return Status::OK();
}

void BlobCache::Fetch(const std::vector<IndexEntry>& entries,
                      const std::vector<std::shared_ptr<Slot>>& slots, bool prefetch) {
  std::unique_ptr<PackReader> reader = TakeReader();
  std::vector<Status> status(entries.size());
  // All in one buffer, opened in place; if one fails, each alone in its own, so that each gets
  // its own outcome.
  auto fill = [&](size_t b, size_t e) -> Status {
    size_t total = 0;
    for (size_t i = b; i < e; ++i) total += entries[i].loc.raw_length;
    auto block = std::make_shared<Block>();
    block->bytes.reset(new uint8_t[total]);
    block->size = total;
    RETURN_IF_ERROR(reader->ReadInto({entries.data() + b, e - b}, {block->bytes.get(), total}));
    size_t at = 0;
    for (size_t i = b; i < e; ++i) {
      slots[i]->block = block;
      slots[i]->data = ByteSpan(block->bytes.get() + at, entries[i].loc.raw_length);
      at += entries[i].loc.raw_length;
    }
    return Status::OK();
  };
  if (!fill(0, entries.size()).ok()) {
    for (size_t i = 0; i < entries.size(); ++i) status[i] = fill(i, i + 1);
  }
  GiveBackReader(std::move(reader));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries.size(); ++i) {
      Slot& slot = *slots[i];
      slot.status = status[i];
      slot.ready = true;
      if (status[i].ok()) {
        ++stats_.fetched;
        stats_.fetched_bytes += entries[i].loc.length;
        if (prefetch) ++stats_.prefetched;
        KeepLocked(entries[i].blob, slots[i]);
      } else {
        slot.block.reset();
        slot.data = {};
        auto it = slots_.find(entries[i].blob);
        if (it != slots_.end() && it->second == slots[i]) slots_.erase(it);
      }
    }
    EvictLocked();
  }
  ready_.notify_all();
}

void BlobCache::KeepLocked(const Id& id, const std::shared_ptr<Slot>& slot) {
  lru_.push_front(id);
  slot->in_lru = lru_.begin();
  slot->listed = true;
  if (slot->block->listed++ == 0) cached_bytes_ += slot->block->size;
}

void BlobCache::EvictLocked() {
  while (cached_bytes_ > capacity_ && !lru_.empty()) {
    auto it = slots_.find(lru_.back());
    lru_.pop_back();
    if (it == slots_.end()) continue;
    Slot& victim = *it->second;
    victim.listed = false;
    if (--victim.block->listed == 0) cached_bytes_ -= victim.block->size;
    slots_.erase(it);  // a caller holding it keeps it (and its block) alive
  }
}

std::unique_ptr<PackReader> BlobCache::TakeReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!readers_.empty()) {
      std::unique_ptr<PackReader> reader = std::move(readers_.back());
      readers_.pop_back();
      return reader;
    }
  }
  return std::make_unique<PackReader>(repo_.backend(), repo_.keys());
}

void BlobCache::GiveBackReader(std::unique_ptr<PackReader> reader) {
  std::lock_guard<std::mutex> lock(mu_);
  if (readers_.size() < kIdleReaders) readers_.push_back(std::move(reader));
}

void BlobCache::Prefetch(std::vector<IndexEntry> blobs) {
  if (prefetchers_.empty() || blobs.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queued_blobs_ + blobs.size() > kMaxQueuedPrefetch) return;
    queued_blobs_ += blobs.size();
    queue_.push_back(std::move(blobs));
  }
  queued_.notify_one();
}

void BlobCache::PrefetchLoop() {
  for (;;) {
    std::vector<IndexEntry> mine;
    std::vector<std::shared_ptr<Slot>> mine_slots;
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      std::vector<IndexEntry> job = std::move(queue_.front());
      queue_.pop_front();
      queued_blobs_ -= job.size();
      for (const IndexEntry& e : job) {
        auto [it, created] = slots_.try_emplace(e.blob);
        if (!created) continue;  // cached, or being fetched
        it->second = std::make_shared<Slot>();
        mine.push_back(e);
        mine_slots.push_back(it->second);
      }
    }
    if (!mine.empty()) Fetch(mine, mine_slots, true);
  }
}

BlobCacheStats BlobCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace repo
