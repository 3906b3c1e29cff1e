// BlobStore (repo/store/blob_store.h) through Repository: round trips, deduplication across
// flushes, processes and caches, verification on read, pack rollover, and the write ordering that
// keeps a repository consistent when a write fails.
#include "repo/store/blob_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "crypto/hash.h"
#include "repo/storage/local_backend.h"
#include "repo/storage/memory_backend.h"
#include "repo/store/index_file.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::CompressibleBytes;
using test::FaultyBackend;
using test::RandomBytes;

// A blob of 200 KiB: five fit in a 1 MiB pack, the sixth closes it.
constexpr size_t kBigBlob = 200 << 10;

// Every entry of every index file in `storage`.
std::vector<IndexEntry> AllIndexEntries(Backend& storage, const MasterKeys& keys) {
  std::vector<IndexEntry> out;
  auto files = storage.List(FileType::kIndex);
  EXPECT_TRUE(files.ok());
  if (!files.ok()) return out;
  for (const FileInfo& f : *files) {
    auto bytes = storage.Read({FileType::kIndex, f.name});
    EXPECT_TRUE(bytes.ok());
    if (!bytes.ok()) continue;
    auto entries = DecodeIndexFile(keys.enc_key, *bytes, f.name);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    if (entries.ok()) out.insert(out.end(), entries->entries.begin(), entries->entries.end());
  }
  return out;
}

size_t Count(Backend& storage, FileType type) { return storage.List(type)->size(); }

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, FreshCache());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  std::string FreshCache() { return dir_.Sub("cache" + std::to_string(caches_++)); }

  // Another "process": a new Repository over the same storage.
  std::unique_ptr<Repository> OpenAnother(const std::string& cache_dir) {
    auto r = test::OpenRepo(storage_, cache_dir);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  static BlobStore* Blobs(Repository& r) {
    auto s = r.blobs();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }

  Id MustPut(BlobStore* s, ByteSpan plain, BlobType type = BlobType::kData) {
    Result<PutResult> r = s->Put(type, plain);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id : Id();
  }
  void ExpectGet(BlobStore* s, const Id& id, const Bytes& want, BlobType type = BlobType::kData) {
    Result<Bytes> got = s->Get(type, id);
    ASSERT_TRUE(got.ok()) << id.ShortHex() << ": " << got.status().ToString();
    EXPECT_TRUE(*got == want) << id.ShortHex() << ": content differs";
  }

  // The two tests of concurrent puts across mid-run index files: runs put_all(true) and
  // put_all(false) on two threads, then expects no errors, index files written mid-run, and each
  // of the `blobs` contents stored and indexed exactly once.
  void RunLeaderAndFollower(const std::function<void(bool leader)>& put_all, uint64_t blobs,
                            const std::atomic<uint64_t>& stored, const std::atomic<int>& errors) {
    std::thread leader(put_all, true), follower(put_all, false);
    leader.join();
    follower.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_GE(store_->stats().index_files_written, 2u);
    EXPECT_EQ(stored.load(), blobs);
    ASSERT_TRUE(store_->Flush().ok());
    EXPECT_EQ(AllIndexEntries(storage_, repo_->keys()).size(), size_t{blobs});
  }

  test::TempDir dir_;
  int caches_ = 0;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
};

TEST_F(BlobStoreTest, PutThenGetRoundTripsBeforeAndAfterFlush) {
  const std::vector<std::pair<BlobType, Bytes>> blobs = {
      {BlobType::kData, CompressibleBytes(50000, 1)},
      {BlobType::kData, RandomBytes(30000, 2)},
      {BlobType::kTree, CompressibleBytes(2000, 3)},
      {BlobType::kData, Bytes{}},
  };
  std::vector<Id> ids;
  for (const auto& [type, plain] : blobs) ids.push_back(MustPut(store_, plain, type));
  // Not flushed yet: readable by this store all the same.
  for (size_t i = 0; i < blobs.size(); ++i)
    ExpectGet(store_, ids[i], blobs[i].second, blobs[i].first);
  ASSERT_TRUE(store_->Flush().ok());
  for (size_t i = 0; i < blobs.size(); ++i)
    ExpectGet(store_, ids[i], blobs[i].second, blobs[i].first);
  EXPECT_EQ(store_->Get(BlobType::kData, Id()).status().code(), StatusCode::kNotFound);
}

TEST_F(BlobStoreTest, CompressibleBlobsAreStoredSmaller) {
  Result<PutResult> text = store_->Put(BlobType::kData, CompressibleBytes(100000, 1));
  Result<PutResult> noise = store_->Put(BlobType::kData, RandomBytes(100000, 2));
  ASSERT_TRUE(text.ok() && noise.ok());
  EXPECT_LT(text->stored_bytes, 10000u);
  EXPECT_EQ(noise->stored_bytes, 100000u + 40);
  ASSERT_TRUE(store_->Flush().ok());
  auto loc = store_->Find(text->id);
  ASSERT_TRUE(loc.ok() && loc->has_value());
  EXPECT_EQ((*loc)->flags, kBlobFlagZstd);
  EXPECT_EQ((*loc)->raw_length, 100000u);
}

TEST_F(BlobStoreTest, GetWithTheWrongTypeFails) {
  Id id = MustPut(store_, CompressibleBytes(1000, 1), BlobType::kData);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->Get(BlobType::kTree, id).status().code(), StatusCode::kCorruption);
}

TEST_F(BlobStoreTest, SameContentIsStoredOnce) {
  const Bytes plain = RandomBytes(10000, 1);
  Result<PutResult> first = store_->Put(BlobType::kData, plain);
  Result<PutResult> second = store_->Put(BlobType::kData, plain);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(first->stored);
  EXPECT_FALSE(second->stored);
  EXPECT_EQ(second->stored_bytes, 0u);
  EXPECT_EQ(first->id, second->id);
  ASSERT_TRUE(store_->Flush().ok());
  Result<PutResult> third = store_->Put(BlobType::kData, plain);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->stored);
  ASSERT_TRUE(store_->Flush().ok());
  BlobStoreStats st = store_->stats();
  EXPECT_EQ(st.blobs_stored, 1u);
  EXPECT_EQ(st.blobs_deduplicated, 2u);
  EXPECT_EQ(AllIndexEntries(storage_, repo_->keys()).size(), 1u);
}

// A snapshot's workers put chunks a batch at a time, looked up with one MultiGet: a repeat
// within the batch, content stored by an earlier batch (not yet indexed, then indexed) and
// content another process stored are each stored once.
TEST_F(BlobStoreTest, PutManyStoresEachContentOnceWithinAndAcrossBatches) {
  const Bytes a = RandomBytes(5000, 1), b = RandomBytes(5000, 2), c = RandomBytes(5000, 3),
              d = RandomBytes(5000, 4);
  auto put_many = [&](BlobStore* s, std::vector<ByteSpan> plain) {
    std::vector<PutResult> out(plain.size());
    EXPECT_TRUE(s->PutMany(BlobType::kData, plain, out).ok());
    return out;
  };
  std::vector<PutResult> first = put_many(store_, {a, b, a, c});
  EXPECT_TRUE(first[0].stored && first[1].stored && first[3].stored);
  EXPECT_FALSE(first[2].stored);
  EXPECT_EQ(first[2].id, first[0].id);
  EXPECT_EQ(first[0].id, MustPut(store_, a));                // the same id as a single Put
  std::vector<PutResult> second = put_many(store_, {c, d});  // c is in the open pack
  EXPECT_FALSE(second[0].stored);
  EXPECT_TRUE(second[1].stored);
  ASSERT_TRUE(store_->Flush().ok());
  std::vector<PutResult> third = put_many(store_, {d, b});  // now found in the cache
  EXPECT_FALSE(third[0].stored || third[1].stored);
  ASSERT_TRUE(store_->Flush().ok());
  auto other = OpenAnother(FreshCache());
  std::vector<PutResult> fourth = put_many(Blobs(*other), {a, b, c, d});
  for (const PutResult& r : fourth) EXPECT_FALSE(r.stored) << r.id.ShortHex();
  ASSERT_TRUE(Blobs(*other)->Flush().ok());
  EXPECT_EQ(AllIndexEntries(storage_, repo_->keys()).size(), 4u);
  for (const auto& [id, plain] :
       {std::pair{first[0].id, a}, {first[1].id, b}, {first[3].id, c}, {second[1].id, d}}) {
    ExpectGet(store_, id, plain);
  }
}

// Tree ids are hashed in their own domain: a tree with the same bytes as a data blob is a
// different blob, stored and readable as a tree.
TEST_F(BlobStoreTest, SameBytesAsDataAndTreeAreBothReadable) {
  const Bytes plain = CompressibleBytes(1000, 1);
  Id data = MustPut(store_, plain, BlobType::kData);
  Id tree = MustPut(store_, plain, BlobType::kTree);
  EXPECT_NE(data, tree);
  ASSERT_TRUE(store_->Flush().ok());
  ExpectGet(store_, data, plain, BlobType::kData);
  ExpectGet(store_, tree, plain, BlobType::kTree);
}

TEST_F(BlobStoreTest, DeduplicatesAcrossReopenWithTheSameCache) {
  const std::string cache = FreshCache();
  const Bytes plain = RandomBytes(10000, 1);
  {
    auto a = OpenAnother(cache);
    BlobStore* s = Blobs(*a);
    ASSERT_TRUE(s->Put(BlobType::kData, plain)->stored);
    ASSERT_TRUE(s->Flush().ok());
  }
  auto b = OpenAnother(cache);
  BlobStore* s = Blobs(*b);
  Result<PutResult> again = s->Put(BlobType::kData, plain);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->stored);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(AllIndexEntries(storage_, b->keys()).size(), 1u);
}

TEST_F(BlobStoreTest, DeduplicatesAcrossReopenWithAFreshCache) {
  const Bytes plain = RandomBytes(10000, 1);
  ASSERT_TRUE(store_->Put(BlobType::kData, plain)->stored);
  ASSERT_TRUE(store_->Flush().ok());
  auto other = OpenAnother(FreshCache());  // must rebuild its cache from the index files
  BlobStore* s = Blobs(*other);
  Result<PutResult> again = s->Put(BlobType::kData, plain);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->stored);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count(storage_, FileType::kPack), 1u);
}

TEST_F(BlobStoreTest, GetDetectsACorruptedPack) {
  const Bytes plain = RandomBytes(5000, 1);
  Id id = MustPut(store_, plain);
  Id other = MustPut(store_, RandomBytes(5000, 2));
  ASSERT_TRUE(store_->Flush().ok());
  auto loc = store_->Find(id);
  ASSERT_TRUE(loc.ok() && loc->has_value());
  // One flipped bit in the middle of the blob's ciphertext.
  ASSERT_TRUE(test::FlipStoredByte(storage_, {FileType::kPack, (*loc)->pack.Hex()},
                                   (*loc)->offset + (*loc)->length / 2)
                  .ok());
  Result<Bytes> got = store_->Get(BlobType::kData, id);
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().ToString();
  ExpectGet(store_, other, RandomBytes(5000, 2));  // its neighbour is intact
}

TEST_F(BlobStoreTest, BlobLargerThanAPackIsRefused) {
  EXPECT_EQ(store_->Put(BlobType::kData, RandomBytes(test::kSmallPackSize + 1, 1)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(BlobStoreTest, PacksRollOverAtTheTargetSize) {
  std::vector<Id> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(MustPut(store_, RandomBytes(kBigBlob, i)));
  // Six sealed 200 KiB blobs pass 1 MiB: two packs are already written, nothing is open.
  EXPECT_EQ(store_->stats().packs_written, 2u);
  EXPECT_EQ(Count(storage_, FileType::kPack), 2u);
  const std::vector<FileInfo> packs = *storage_.List(FileType::kPack);
  for (const FileInfo& f : packs) {
    EXPECT_GE(f.size, test::kSmallPackSize);
    EXPECT_LT(f.size, test::kSmallPackSize + kBigBlob + 1000);
  }
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(Count(storage_, FileType::kPack), 2u);
  EXPECT_EQ(Count(storage_, FileType::kIndex), 1u);
  for (int i = 0; i < 12; ++i) ExpectGet(store_, ids[i], RandomBytes(kBigBlob, i));
}

TEST_F(BlobStoreTest, FlushWritesExactlyWhatIsNeeded) {
  FaultyBackend counting(storage_);
  auto r = Repository::Open(test::Borrow(counting), test::Password(test::kPassword), FreshCache());
  ASSERT_TRUE(r.ok());
  BlobStore* s = Blobs(**r);

  ASSERT_TRUE(s->Flush().ok());  // nothing to write
  EXPECT_EQ(counting.counts().writes, 0u);

  MustPut(s, RandomBytes(1000, 1));
  MustPut(s, RandomBytes(1000, 2));
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(counting.WritesOf(FileType::kPack), 1u);
  EXPECT_EQ(counting.WritesOf(FileType::kIndex), 1u);

  ASSERT_TRUE(s->Flush().ok());      // again: nothing new
  MustPut(s, RandomBytes(1000, 1));  // a duplicate writes nothing either
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(counting.counts().writes, 2u);

  // Two full packs and a partial one, flushed together: one index file lists all three.
  for (int i = 0; i < 13; ++i) MustPut(s, RandomBytes(kBigBlob, 100 + i));
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(counting.WritesOf(FileType::kPack), 4u);
  EXPECT_EQ(counting.WritesOf(FileType::kIndex), 2u);
  EXPECT_EQ(s->stats().index_files_written, 2u);
  EXPECT_EQ(counting.counts().deletes, 0u);
}

TEST_F(BlobStoreTest, IndexFileIsWrittenMidRunOnceEnoughEntriesArePending) {
  // Tiny blobs: about 21800 fit a 1 MiB pack, so the second pack brings the pending entries past
  // kIndexFileEntries and an index file is written without a Flush.
  const size_t per_pack = test::kSmallPackSize / (8 + 40) + 1;
  Bytes plain(8);
  uint64_t i = 0;
  while (store_->stats().packs_written < 2) {
    ASSERT_LT(i, 3 * per_pack);
    for (int b = 0; b < 8; ++b) plain[b] = static_cast<uint8_t>(i >> (8 * b));
    ASSERT_TRUE(store_->Put(BlobType::kData, plain).ok());
    ++i;
  }
  EXPECT_GE(2 * per_pack, BlobStore::kIndexFileEntries);
  EXPECT_EQ(store_->stats().index_files_written, 1u);
  EXPECT_EQ(Count(storage_, FileType::kIndex), 1u);
  // Another process already sees them, without this one flushing.
  auto other = OpenAnother(FreshCache());
  BlobStore* s = Blobs(*other);
  Bytes first(8, 0);
  Result<Bytes> got = s->Get(BlobType::kData, KeyedHash(other->keys().id_key, first));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(AllIndexEntries(storage_, other->keys()).size(), i);
}

TEST_F(BlobStoreTest, AfterFlushAnotherProcessSeesEveryBlob) {
  std::vector<Id> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(MustPut(store_, RandomBytes(kBigBlob, i)));
  ids.push_back(MustPut(store_, CompressibleBytes(1000, 9), BlobType::kTree));

  auto before = OpenAnother(FreshCache());
  EXPECT_EQ(Blobs(*before)->Get(BlobType::kData, ids[0]).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->Flush().ok());
  auto after = OpenAnother(FreshCache());
  BlobStore* s = Blobs(*after);
  for (int i = 0; i < 8; ++i) ExpectGet(s, ids[i], RandomBytes(kBigBlob, i));
  ExpectGet(s, ids[8], CompressibleBytes(1000, 9), BlobType::kTree);
}

TEST_F(BlobStoreTest, AnotherProcessSharingTheCacheDirectorySeesFlushedBlobs) {
  const std::string cache = FreshCache();
  auto first = OpenAnother(cache);
  BlobStore* a = Blobs(*first);
  Id id = MustPut(a, RandomBytes(1000, 1));
  ASSERT_TRUE(a->Flush().ok());

  auto second = OpenAnother(cache);  // the cache is held: opened shared
  BlobStore* b = Blobs(*second);
  EXPECT_TRUE(second->index_cache_shared());
  EXPECT_FALSE(first->index_cache_shared());
  ExpectGet(b, id, RandomBytes(1000, 1));
  Result<PutResult> dup = b->Put(BlobType::kData, RandomBytes(1000, 1));
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->stored);
  Id own = MustPut(b, RandomBytes(1000, 2));
  ASSERT_TRUE(b->Flush().ok());
  ExpectGet(b, own, RandomBytes(1000, 2));
}

TEST_F(BlobStoreTest, ConcurrentPutsStoreEachContentOnce) {
  constexpr int kThreads = 4, kBlobs = 40;
  std::atomic<int> stored{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      // Every thread puts the same blobs: each must be stored by exactly one of them.
      for (int i = 0; i < kBlobs; ++i) {
        Result<PutResult> r = store_->Put(BlobType::kData, RandomBytes(30000, i));
        if (!r.ok())
          ++errors;
        else if (r->stored)
          ++stored;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(stored.load(), kBlobs);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(AllIndexEntries(storage_, repo_->keys()).size(), size_t{kBlobs});
  for (int i = 0; i < kBlobs; ++i) {
    ExpectGet(store_, KeyedHash(repo_->keys().id_key, RandomBytes(30000, i)),
              RandomBytes(30000, i));
  }
}

TEST_F(BlobStoreTest, ConcurrentPutsStoreEachContentOnceAcrossMidRunIndexFiles) {
  // Enough tiny blobs for index files to be written mid-run (~21,800 fit a pack, an index file
  // follows every ~32,768 entries of written packs), put by two threads, the second starting
  // more than a pack behind the first: its blobs are then mostly in written packs awaiting an
  // index file. A Put whose cache lookup ran just before that index file moved its blob from the
  // store's own table into the cache must not store the blob again.
  constexpr uint64_t kBlobs = 4 * BlobStore::kIndexFileEntries, kLag = 30000;
  std::atomic<uint64_t> stored{0}, leader_done{0};
  std::atomic<int> errors{0};
  auto put_all = [&](bool leader) {
    if (!leader) {
      while (leader_done.load() < kLag) std::this_thread::yield();
    }
    Bytes plain(8);
    for (uint64_t i = 0; i < kBlobs; ++i) {
      for (int b = 0; b < 8; ++b) plain[b] = static_cast<uint8_t>(i >> (8 * b));
      Result<PutResult> r = store_->Put(BlobType::kData, plain);
      if (!r.ok())
        ++errors;
      else if (r->stored)
        ++stored;
      if (leader) ++leader_done;
    }
  };
  RunLeaderAndFollower(put_all, kBlobs, stored, errors);
}

// The same with PutMany, as the snapshot's workers call it: a batch looked up before an index
// file moved its blobs into the cache is asked again blob by blob.
TEST_F(BlobStoreTest, ConcurrentPutManyStoresEachContentOnceAcrossMidRunIndexFiles) {
  constexpr uint64_t kBlobs = 4 * BlobStore::kIndexFileEntries, kLag = 30000, kBatch = 32;
  std::atomic<uint64_t> stored{0}, leader_done{0};
  std::atomic<int> errors{0};
  auto put_all = [&](bool leader) {
    if (!leader) {
      while (leader_done.load() < kLag) std::this_thread::yield();
    }
    std::vector<Bytes> plain(kBatch, Bytes(8));
    std::vector<ByteSpan> spans(kBatch);
    std::vector<PutResult> out(kBatch);
    for (uint64_t i = 0; i < kBlobs; i += kBatch) {
      for (uint64_t j = 0; j < kBatch; ++j) {
        for (int b = 0; b < 8; ++b) plain[j][b] = static_cast<uint8_t>((i + j) >> (8 * b));
        spans[j] = plain[j];
      }
      if (!store_->PutMany(BlobType::kData, spans, out).ok()) {
        ++errors;
        continue;
      }
      for (const PutResult& r : out) stored += r.stored;
      if (leader) leader_done += kBatch;
    }
  };
  RunLeaderAndFollower(put_all, kBlobs, stored, errors);
}

// A backend whose pack writes wait until the test lets them through.
class GatedBackend final : public Backend {
 public:
  explicit GatedBackend(Backend& base) : base_(base) {}
  void Release(int writes) {
    std::lock_guard<std::mutex> lock(mu_);
    allowance_ += writes;
    cv_.notify_all();
  }
  void WaitForBlockedWrites(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return blocked_ >= n; });
  }
  std::string Location() const override { return base_.Location(); }
  Result<std::vector<FileInfo>> List(FileType type) override { return base_.List(type); }
  Result<FileInfo> Stat(const FileHandle& h) override { return base_.Stat(h); }
  Result<Bytes> Read(const FileHandle& h, uint64_t offset, uint64_t length) override {
    return base_.Read(h, offset, length);
  }
  Status Write(const FileHandle& h, ByteSpan data) override {
    if (h.type == FileType::kPack) {
      std::unique_lock<std::mutex> lock(mu_);
      ++blocked_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return allowance_ > 0; });
      --allowance_;
      --blocked_;
    }
    return base_.Write(h, data);
  }
  Status Delete(const FileHandle& h) override { return base_.Delete(h); }

 private:
  Backend& base_;
  std::mutex mu_;
  std::condition_variable cv_;
  int blocked_ = 0;
  int allowance_ = 0;
};

// A store over a GatedBackend, with pack writes held back.
class BlobStoreBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(gated_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto store = repo_->blobs();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = *store;
  }
  void TearDown() override {
    gated_.Release(1000);
    for (auto& f : fillers_) EXPECT_TRUE(f.get().ok());
  }
  // Both pack buffers taken: two threads each Put new blobs until a pack fills and its write
  // blocks.
  void BlockTwoPackWrites() {
    for (int seed = 1; seed <= 2; ++seed) {
      fillers_.push_back(std::async(std::launch::async, [this, seed] {
        for (int i = 0;; ++i) {
          Bytes b = RandomBytes(64 << 10, seed * 1000 + i);
          Result<PutResult> r = store_->Put(BlobType::kData, b);
          if (!r.ok()) return r.status();
          if (store_->stats().packs_written > 0 || i > 1000) return Status::OK();
        }
      }));
      gated_.WaitForBlockedWrites(seed);
    }
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  GatedBackend gated_{storage_};
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
  std::vector<std::future<Status>> fillers_;
};

// At most two pack buffers: with two packs being written, a Put of new content waits until one
// of them is written, then goes on; every blob is stored.
TEST_F(BlobStoreBufferTest, APutWaitsForAPackBufferWhileTwoPacksAreBeingWritten) {
  BlockTwoPackWrites();
  const Bytes late = RandomBytes(64 << 10, 999999);
  auto third = std::async(std::launch::async, [&] { return store_->Put(BlobType::kData, late); });
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "a third pack buffer was taken";
  gated_.Release(1);
  Result<PutResult> got = third.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->stored);
  gated_.Release(1000);
  ASSERT_TRUE(store_->Flush().ok());
  Result<Bytes> back = store_->Get(BlobType::kData, got->id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == late);
}

// A Put of content that another thread's Put is still adding (compressing and encrypting it)
// returns at once as a duplicate; a Flush right after it must still make that content durable
// and indexed, as Flush promises for every Put before it. The other thread is given a head start
// of 0.3 ms, enough (each 1 MiB blob takes longer to encode) for most rounds to meet that
// case; the rounds where this thread's Put came first test nothing and are skipped.
TEST_F(BlobStoreTest, FlushIncludesABlobAnotherPutIsStillAdding) {
  int met = 0;
  for (int round = 0; round < 20; ++round) {
    // Random letters: zstd takes its time over them (~1 ms a MiB), unlike repeated lines.
    Bytes blob(test::kSmallPackSize - 4096);
    std::mt19937 letters(round);
    for (uint8_t& c : blob) c = static_cast<uint8_t>('a' + letters() % 16);
    auto adding =
        std::async(std::launch::async, [&] { return store_->Put(BlobType::kData, blob); });
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    Result<PutResult> dup = store_->Put(BlobType::kData, blob);
    ASSERT_TRUE(dup.ok()) << dup.status().ToString();
    if (!dup->stored) {
      ++met;
      ASSERT_TRUE(store_->Flush().ok());
      bool indexed = false;
      for (const IndexEntry& e : AllIndexEntries(storage_, repo_->keys())) {
        indexed |= e.blob == dup->id;
      }
      EXPECT_TRUE(indexed)
          << "round " << round
          << ": Flush returned before the blob it deduplicated against was indexed";
    }
    ASSERT_TRUE(adding.get().ok());
  }
  std::printf("rounds where the other Put was still adding: %d of 20\n", met);
}

TEST_F(BlobStoreTest, StoreThatFailedOnceRefusesFurtherWrites) {
  FaultyBackend faulty(storage_);
  auto r = Repository::Open(test::Borrow(faulty), test::Password(test::kPassword), FreshCache());
  ASSERT_TRUE(r.ok());
  BlobStore* s = Blobs(**r);
  faulty.FailNthWrite(1);
  MustPut(s, RandomBytes(1000, 1));
  Status flushed = s->Flush();
  EXPECT_EQ(flushed.code(), StatusCode::kIOError) << flushed.ToString();
  // The fault is spent, but the store stays refused.
  EXPECT_FALSE(s->Put(BlobType::kData, RandomBytes(1000, 2)).ok());
  EXPECT_FALSE(s->Flush().ok());
  EXPECT_EQ(Count(storage_, FileType::kPack), 0u);
  EXPECT_EQ(Count(storage_, FileType::kIndex), 0u);
}

// The write sequence of two rounds of "8 big Puts, Flush" is: pack, pack, index, pack, pack,
// index. Failing each write in turn must leave a repository where every indexed blob reads back,
// every blob whose Flush succeeded is indexed, and `repair index` adopts whatever packs made it.
TEST(BlobStoreWriteOrderingTest, FailingAnyWriteLeavesAConsistentRepository) {
  constexpr int kWrites = 6;
  for (int n = 1; n <= kWrites + 1; ++n) {
    SCOPED_TRACE("failing write " + std::to_string(n));
    test::TempDir dir;
    MemoryBackend storage;
    ASSERT_TRUE(test::InitSmallRepo(storage, dir.Sub("init")).ok());

    std::set<Id> acknowledged;  // blobs whose Flush returned OK
    std::vector<std::pair<Id, int>> all;
    Status failure;
    {
      auto faulty = test::Borrow(storage);
      faulty->FailNthWrite(n);
      FaultyBackend* f = faulty.get();
      auto repo =
          Repository::Open(std::move(faulty), test::Password(test::kPassword), dir.Sub("crashing"));
      ASSERT_TRUE(repo.ok());
      auto s = (*repo)->blobs();
      ASSERT_TRUE(s.ok());
      int seed = 0;
      for (int round = 0; round < 2 && failure.ok(); ++round) {
        std::vector<Id> this_round;
        for (int i = 0; i < 8 && failure.ok(); ++i, ++seed) {
          Result<PutResult> p = (*s)->Put(BlobType::kData, RandomBytes(kBigBlob, seed));
          if (!p.ok()) {
            failure = p.status();
            break;
          }
          this_round.push_back(p->id);
          all.push_back({p->id, seed});
        }
        if (!failure.ok()) break;
        failure = (*s)->Flush();
        if (failure.ok()) acknowledged.insert(this_round.begin(), this_round.end());
      }
      if (n <= kWrites) {
        EXPECT_EQ(failure.code(), StatusCode::kIOError) << failure.ToString();
        EXPECT_EQ(f->counts().injected_failures, 1u);
        EXPECT_FALSE((*s)->Put(BlobType::kData, RandomBytes(100, 999)).ok());
        EXPECT_FALSE((*s)->Flush().ok());
      } else {
        EXPECT_TRUE(failure.ok()) << failure.ToString();
        EXPECT_EQ(f->counts().writes, size_t{kWrites});
      }
    }

    // "Restart": a new process with a fresh cache.
    auto repo = test::OpenRepo(storage, dir.Sub("after"));
    ASSERT_TRUE(repo.ok());
    auto s = (*repo)->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    std::set<Id> indexed;
    for (const IndexEntry& e : AllIndexEntries(storage, (*repo)->keys())) {
      indexed.insert(e.blob);
      Result<Bytes> got = (*s)->Get(e.loc.type, e.blob);
      EXPECT_TRUE(got.ok()) << "indexed blob " << e.blob.ShortHex() << ": "
                            << got.status().ToString();
    }
    for (const Id& id : acknowledged) EXPECT_TRUE(indexed.count(id)) << id.ShortHex();

    // Packs written before the failure but never indexed are adopted by repair.
    auto report = (*repo)->RepairIndex();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->bad_packs.empty());
    s = (*repo)->blobs();
    ASSERT_TRUE(s.ok());
    size_t readable = 0;
    for (const auto& [id, seed] : all) {
      Result<Bytes> got = (*s)->Get(BlobType::kData, id);
      if (got.ok()) {
        ++readable;
        EXPECT_TRUE(*got == RandomBytes(kBigBlob, seed));
      }
    }
    EXPECT_GE(readable, acknowledged.size());
    EXPECT_EQ(readable, report->blobs_indexed);
  }
}

TEST(BlobStoreLocalTest, BlobsSurviveReopeningALocalRepository) {
  test::TempDir dir;
  const std::string path = dir.Sub("repo");
  std::vector<Id> ids;
  {
    auto backend = LocalBackend::Create(path);
    ASSERT_TRUE(backend.ok());
    auto repo = Repository::Init(std::move(backend).value(), test::Password("pw"),
                                 test::SmallRepoOptions(), dir.Sub("cache1"));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto s = (*repo)->blobs();
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 7; ++i)
      ids.push_back((*s)->Put(BlobType::kData, RandomBytes(kBigBlob, i))->id);
    ASSERT_TRUE((*s)->Flush().ok());
  }
  for (const char* cache : {"cache1", "cache2"}) {
    SCOPED_TRACE(cache);
    auto backend = LocalBackend::Open(path);
    ASSERT_TRUE(backend.ok());
    auto repo = Repository::Open(std::move(backend).value(), test::Password("pw"), dir.Sub(cache));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto s = (*repo)->blobs();
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 7; ++i) {
      Result<Bytes> got = (*s)->Get(BlobType::kData, ids[i]);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_TRUE(*got == RandomBytes(kBigBlob, i));
    }
    EXPECT_FALSE((*s)->Put(BlobType::kData, RandomBytes(kBigBlob, 3))->stored);
  }
}

}  // namespace
}  // namespace repo
