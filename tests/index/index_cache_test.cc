// IndexCache (index/index_cache.h): lookups, merged files, persistence, wiping a cache of another
// repository, and the shared (secondary) mode of a second opener.
#include "index/index_cache.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "tests/support/temp_dir.h"

namespace repo {
namespace {

Id TestId(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Id id;
  for (size_t i = 0; i < Id::kSize; ++i) id.data()[i] = static_cast<uint8_t>(rng());
  return id;
}

// `n` entries of pack `pack`, blob ids from `first_seed` on.
std::vector<IndexEntry> PackEntries(const Id& pack, uint64_t first_seed, int n) {
  std::vector<IndexEntry> out;
  uint32_t offset = 0;
  for (int i = 0; i < n; ++i) {
    IndexEntry e;
    e.blob = TestId(first_seed + i);
    e.loc.pack = pack;
    e.loc.type = i % 3 == 0 ? BlobType::kTree : BlobType::kData;
    e.loc.flags = i % 2 ? kBlobFlagZstd : 0;
    e.loc.offset = offset;
    e.loc.length = 100 + i;
    e.loc.raw_length = 1000 + 7 * i;
    offset += e.loc.length;
    out.push_back(e);
  }
  return out;
}

std::set<Id> AsSet(const std::vector<Id>& v) { return {v.begin(), v.end()}; }

class IndexCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<IndexCache> MustOpen(const Id& repo_id) {
    auto c = IndexCache::Open(dir(), repo_id);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  std::string dir() const { return tmp_.Sub("cache"); }

  void ExpectFound(IndexCache& c, const std::vector<IndexEntry>& entries) {
    for (const IndexEntry& e : entries) {
      auto got = c.Lookup(e.blob);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(got->has_value()) << e.blob.ShortHex();
      EXPECT_EQ(**got, e.loc) << e.blob.ShortHex();
    }
  }
  void ExpectMissing(IndexCache& c, const std::vector<IndexEntry>& entries) {
    for (const IndexEntry& e : entries) {
      auto got = c.Lookup(e.blob);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_FALSE(got->has_value()) << e.blob.ShortHex();
    }
  }

  test::TempDir tmp_;
  const Id repo_a_ = TestId(1000001), repo_b_ = TestId(1000002);
  const Id pack1_ = TestId(2000001), pack2_ = TestId(2000002), pack3_ = TestId(2000003);
  const Id file1_ = TestId(3000001), file2_ = TestId(3000002), file3_ = TestId(3000003);
};

TEST_F(IndexCacheTest, FreshCacheIsEmpty) {
  auto c = MustOpen(repo_a_);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->shared());
  EXPECT_TRUE(c->KnownIndexFiles()->merged.empty());
  ExpectMissing(*c, PackEntries(pack1_, 1, 3));
  std::vector<std::optional<BlobLocation>> out;
  ASSERT_TRUE(c->LookupMany({}, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_F(IndexCacheTest, AddedEntriesAreFoundWithTheirLocations) {
  auto c = MustOpen(repo_a_);
  auto e1 = PackEntries(pack1_, 1, 5), e2 = PackEntries(pack2_, 100, 4);
  std::vector<IndexEntry> both = e1;
  both.insert(both.end(), e2.begin(), e2.end());
  ASSERT_TRUE(c->AddIndexFile(file1_, both).ok());
  ExpectFound(*c, e1);
  ExpectFound(*c, e2);
  ExpectMissing(*c, PackEntries(pack3_, 500, 2));
  EXPECT_EQ(AsSet(c->KnownIndexFiles()->merged), std::set<Id>{file1_});
}

TEST_F(IndexCacheTest, LookupManyKeepsTheOrderAndReportsMisses) {
  auto c = MustOpen(repo_a_);
  auto e = PackEntries(pack1_, 1, 3);
  ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  const Id miss1 = TestId(900), miss2 = TestId(901);
  const std::vector<Id> ids = {e[2].blob, miss1, e[0].blob, miss2, e[1].blob, e[0].blob};
  std::vector<std::optional<BlobLocation>> out(17, e[0].loc);  // stale contents are replaced
  ASSERT_TRUE(c->LookupMany(ids, &out).ok());
  ASSERT_EQ(out.size(), ids.size());
  EXPECT_EQ(out[0], e[2].loc);
  EXPECT_FALSE(out[1].has_value());
  EXPECT_EQ(out[2], e[0].loc);
  EXPECT_FALSE(out[3].has_value());
  EXPECT_EQ(out[4], e[1].loc);
  EXPECT_EQ(out[5], e[0].loc);
}

TEST_F(IndexCacheTest, KnownIndexFilesListsEveryFileMerged) {
  auto c = MustOpen(repo_a_);
  ASSERT_TRUE(c->AddIndexFile(file1_, PackEntries(pack1_, 1, 2)).ok());
  ASSERT_TRUE(c->AddIndexFile(file2_, PackEntries(pack2_, 10, 2)).ok());
  ASSERT_TRUE(c->AddIndexFile(file3_, {}).ok());  // an index file with no entries still counts
  EXPECT_EQ(AsSet(c->KnownIndexFiles()->merged), (std::set<Id>{file1_, file2_, file3_}));
  EXPECT_EQ(c->KnownIndexFiles()->merged.size(), 3u);
}

TEST_F(IndexCacheTest, ClearForgetsEverything) {
  auto c = MustOpen(repo_a_);
  auto e = PackEntries(pack1_, 1, 4);
  ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  ASSERT_TRUE(c->Clear().ok());
  EXPECT_TRUE(c->KnownIndexFiles()->merged.empty());
  ExpectMissing(*c, e);
  // Usable afterwards.
  ASSERT_TRUE(c->AddIndexFile(file2_, e).ok());
  ExpectFound(*c, e);
  EXPECT_EQ(AsSet(c->KnownIndexFiles()->merged), std::set<Id>{file2_});
}

TEST_F(IndexCacheTest, ReopenKeepsWhatWasAdded) {
  auto e = PackEntries(pack1_, 1, 6);
  {
    auto c = MustOpen(repo_a_);
    ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  }
  auto c = MustOpen(repo_a_);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->shared());
  ExpectFound(*c, e);
  EXPECT_EQ(AsSet(c->KnownIndexFiles()->merged), std::set<Id>{file1_});
  EXPECT_GE(c->ApproximateBlobCount(), 1u);
}

TEST_F(IndexCacheTest, CacheOfAnotherRepositoryIsWiped) {
  auto e = PackEntries(pack1_, 1, 3);
  {
    auto c = MustOpen(repo_a_);
    ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  }
  {
    auto c = MustOpen(repo_b_);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->KnownIndexFiles()->merged.empty());
    ExpectMissing(*c, e);
    ASSERT_TRUE(c->AddIndexFile(file2_, PackEntries(pack2_, 50, 2)).ok());
  }
  // And back: A's entries are gone for good, B's are not A's.
  auto c = MustOpen(repo_a_);
  EXPECT_TRUE(c->KnownIndexFiles()->merged.empty());
  ExpectMissing(*c, e);
  ExpectMissing(*c, PackEntries(pack2_, 50, 2));
}

TEST_F(IndexCacheTest, SecondOpenerSharesTheCache) {
  auto primary = MustOpen(repo_a_);
  auto e1 = PackEntries(pack1_, 1, 4);
  ASSERT_TRUE(primary->AddIndexFile(file1_, e1).ok());

  auto shared = MustOpen(repo_a_);  // RocksDB's lock is held by `primary`
  ASSERT_NE(shared, nullptr);
  EXPECT_TRUE(shared->shared());
  EXPECT_FALSE(primary->shared());
  ExpectFound(*shared, e1);
  EXPECT_EQ(AsSet(shared->KnownIndexFiles()->merged), std::set<Id>{file1_});

  // Its own additions live in its memory: visible to it, not to the primary.
  auto e2 = PackEntries(pack2_, 100, 3);
  ASSERT_TRUE(shared->AddIndexFile(file2_, e2).ok());
  ExpectFound(*shared, e2);
  ExpectFound(*shared, e1);
  EXPECT_EQ(AsSet(shared->KnownIndexFiles()->merged), (std::set<Id>{file1_, file2_}));
  std::vector<std::optional<BlobLocation>> out;
  ASSERT_TRUE(shared->LookupMany(std::vector<Id>{e2[0].blob, e1[0].blob, TestId(999)}, &out).ok());
  EXPECT_EQ(out[0], e2[0].loc);
  EXPECT_EQ(out[1], e1[0].loc);
  EXPECT_FALSE(out[2].has_value());

  ExpectMissing(*primary, e2);
  EXPECT_EQ(AsSet(primary->KnownIndexFiles()->merged), std::set<Id>{file1_});
  // The primary keeps working normally.
  auto e3 = PackEntries(pack3_, 200, 2);
  ASSERT_TRUE(primary->AddIndexFile(file3_, e3).ok());
  ExpectFound(*primary, e3);

  shared.reset();
  ExpectFound(*primary, e1);
  ExpectMissing(*primary, e2);
}

// An index file that replaces others (docs/format.md, "Index file") is applied in place: the
// files it replaces are known as replaced, and the entries it removes go where the cache still
// has that blob in that pack; its own entries win over its removals. The same as the primary
// and, in memory, as a secondary.
TEST_F(IndexCacheTest, AReplacingFileRemovesWhatItRemovesAndMarksWhatItReplaces) {
  auto primary = MustOpen(repo_a_);
  const auto e1 = PackEntries(pack1_, 1, 4);    // in pack 1, which goes
  const auto e2 = PackEntries(pack2_, 100, 2);  // in pack 2, which stays
  ASSERT_TRUE(primary->AddIndexFile(file1_, e1).ok());
  ASSERT_TRUE(primary->AddIndexFile(file2_, e2).ok());
  for (bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "secondary" : "primary");
    std::unique_ptr<IndexCache> secondary;
    if (shared) {
      secondary = MustOpen(repo_a_);
      ASSERT_TRUE(secondary->shared());
    }
    IndexCache& c = shared ? *secondary : *primary;
    // Blob 0 of pack 1 was also stored in pack 3; blob 1 is removed in pack 2 (not where the cache
    // has it: kept); blobs 2 and 3 are gone with pack 1; pack 2's entries are re-listed.
    IndexEntry moved = e1[0];
    moved.loc.pack = pack3_;
    std::vector<IndexEntry> entries = {moved};
    entries.insert(entries.end(), e2.begin(), e2.end());
    const std::vector<RemovedEntry> removed = {
        {e1[0].blob, pack1_}, {e1[1].blob, pack2_}, {e1[2].blob, pack1_}, {e1[3].blob, pack1_}};
    const std::vector<Id> replaced = {file1_, file2_};
    ASSERT_TRUE(c.AddIndexFile(file3_, entries, replaced, removed).ok());
    ExpectFound(c, {moved, e1[1]});
    ExpectFound(c, e2);
    ExpectMissing(c, {e1[2], e1[3]});
    std::vector<std::optional<BlobLocation>> out;
    ASSERT_TRUE(c.LookupMany(std::vector<Id>{e1[2].blob, e1[0].blob}, &out).ok());
    EXPECT_FALSE(out[0].has_value());
    EXPECT_EQ(out[1], moved.loc);
    auto known = c.KnownIndexFiles();
    ASSERT_TRUE(known.ok());
    EXPECT_EQ(AsSet(known->merged), std::set<Id>{file3_});
    EXPECT_EQ(AsSet(known->superseded), (std::set<Id>{file1_, file2_}));
    if (shared) {  // the primary's own view is untouched
      ExpectFound(*primary, e1);
      EXPECT_EQ(AsSet(primary->KnownIndexFiles()->merged), (std::set<Id>{file1_, file2_}));
    }
    primary.reset();  // and the replacement is durable (checked in the primary's round)
    primary = MustOpen(repo_a_);
    if (!shared) {
      ExpectMissing(*primary, {e1[2], e1[3]});
      // Back to the old state for the secondary's round.
      ASSERT_TRUE(primary->Clear().ok());
      ASSERT_TRUE(primary->AddIndexFile(file1_, e1).ok());
      ASSERT_TRUE(primary->AddIndexFile(file2_, e2).ok());
    }
  }
}

TEST_F(IndexCacheTest, SharedClearAffectsOnlyTheSharedView) {
  auto primary = MustOpen(repo_a_);
  auto e1 = PackEntries(pack1_, 1, 3);
  ASSERT_TRUE(primary->AddIndexFile(file1_, e1).ok());
  auto shared = MustOpen(repo_a_);
  ASSERT_TRUE(shared->shared());
  ASSERT_TRUE(shared->Clear().ok());
  ExpectMissing(*shared, e1);
  EXPECT_TRUE(shared->KnownIndexFiles()->merged.empty());
  auto e2 = PackEntries(pack2_, 100, 2);
  ASSERT_TRUE(shared->AddIndexFile(file2_, e2).ok());  // rebuilt in memory
  ExpectFound(*shared, e2);
  ExpectMissing(*shared, e1);
  ExpectFound(*primary, e1);
  EXPECT_EQ(AsSet(primary->KnownIndexFiles()->merged), std::set<Id>{file1_});
}

TEST_F(IndexCacheTest, SharedOpenForAnotherRepositoryStartsEmpty) {
  auto primary = MustOpen(repo_a_);
  auto e1 = PackEntries(pack1_, 1, 3);
  ASSERT_TRUE(primary->AddIndexFile(file1_, e1).ok());
  auto other = MustOpen(repo_b_);
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->shared());
  ExpectMissing(*other, e1);
  EXPECT_TRUE(other->KnownIndexFiles()->merged.empty());
  ExpectFound(*primary, e1);
}

TEST_F(IndexCacheTest, SharedOpenerLeavesNoFilesBehind) {
  auto primary = MustOpen(repo_a_);
  std::set<std::string> before;
  for (const auto& e : std::filesystem::directory_iterator(dir())) before.insert(e.path().string());
  {
    auto shared = MustOpen(repo_a_);
    ASSERT_TRUE(shared->shared());
  }
  std::set<std::string> after;
  for (const auto& e : std::filesystem::directory_iterator(dir())) after.insert(e.path().string());
  EXPECT_EQ(after, before);
}

TEST_F(IndexCacheTest, ConcurrentAddsAndLookups) {
  auto c = MustOpen(repo_a_);
  constexpr int kThreads = 4, kFiles = 10;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int f = 0; f < kFiles; ++f) {
        auto e = PackEntries(TestId(10000 + t * 100 + f), 100000 * (t + 1) + 100 * f, 20);
        if (!c->AddIndexFile(TestId(20000 + t * 100 + f), e).ok()) ++errors;
        auto got = c->Lookup(e[5].blob);
        if (!got.ok() || !got->has_value() || **got != e[5].loc) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(c->KnownIndexFiles()->merged.size(), size_t{kThreads * kFiles});
  for (int t = 0; t < kThreads; ++t) {
    for (int f = 0; f < kFiles; ++f) {
      ExpectFound(*c, PackEntries(TestId(10000 + t * 100 + f), 100000 * (t + 1) + 100 * f, 20));
    }
  }
}

TEST_F(IndexCacheTest, DamagedCacheIsRebuiltEmpty) {
  auto e = PackEntries(pack1_, 1, 3);
  {
    auto c = MustOpen(repo_a_);
    ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  }
  {
    std::ofstream current(dir() + "/rocksdb/CURRENT", std::ios::trunc);
    current << "garbage";  // no newline: RocksDB reports Corruption
  }
  auto c = MustOpen(repo_a_);
  ASSERT_NE(c, nullptr);
  ExpectMissing(*c, e);
  ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  ExpectFound(*c, e);
}

TEST_F(IndexCacheTest, CacheOfAnOlderCacheVersionIsWiped) {
  auto e = PackEntries(pack1_, 1, 3);
  {
    auto c = MustOpen(repo_a_);
    ASSERT_TRUE(c->AddIndexFile(file1_, e).ok());
  }
  {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options options;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir() + "/rocksdb", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "m:version", "0").ok());
  }
  auto c = MustOpen(repo_a_);
  ExpectMissing(*c, e);
  EXPECT_TRUE(c->KnownIndexFiles()->merged.empty());
}

// Many table files in several sorted runs, each table with its filter and several index
// partitions, read through a block cache far smaller than they are: every entry is found with
// its location, by Lookup and by LookupMany, and ids never added are not (the filters must never
// hide an entry).
TEST_F(IndexCacheTest, EntriesAcrossManyTablesAndPartitionsAreFoundAfterReopen) {
  IndexCacheOptions options;
  options.write_buffer_bytes = 256 << 10;  // a flush every ~2,500 entries
  options.block_cache_bytes = 64 << 10;
  std::vector<IndexEntry> all;
  {
    auto c = IndexCache::Open(dir(), repo_a_, options);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (int f = 0; f < 10; ++f) {
      auto e = PackEntries(TestId(2100000 + f), 10000 + 3000 * f, 3000);
      ASSERT_TRUE((*c)->AddIndexFile(TestId(3100000 + f), e).ok());
      all.insert(all.end(), e.begin(), e.end());
    }
  }
  auto c = IndexCache::Open(dir(), repo_a_, options);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectFound(**c, all);
  ExpectMissing(**c, PackEntries(pack1_, 900000, 2000));
  std::vector<Id> ids;
  for (size_t i = 0; i < all.size(); i += 7) {
    ids.push_back(all[i].blob);
    ids.push_back(TestId(800000 + i));  // absent
  }
  std::vector<std::optional<BlobLocation>> out;
  ASSERT_TRUE((*c)->LookupMany(ids, &out).ok());
  ASSERT_EQ(out.size(), ids.size());
  for (size_t j = 0; j < ids.size(); j += 2) {
    ASSERT_TRUE(out[j].has_value()) << ids[j].ShortHex();
    EXPECT_EQ(*out[j], all[j / 2 * 7].loc);
    EXPECT_FALSE(out[j + 1].has_value()) << ids[j + 1].ShortHex();
  }
  EXPECT_EQ((*c)->KnownIndexFiles()->merged.size(), 10u);
}

TEST_F(IndexCacheTest, TuningStringsApplyAndBadOnesAreRejected) {
  IndexCacheOptions tuned;
  tuned.table_tuning = "block_size=8192;filter_policy=bloomfilter:6";
  tuned.db_tuning = "max_bytes_for_level_base=1048576";
  {
    auto c = IndexCache::Open(dir(), repo_a_, tuned);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto e = PackEntries(pack1_, 1, 50);
    ASSERT_TRUE((*c)->AddIndexFile(file1_, e).ok());
    ExpectFound(**c, e);
  }
  IndexCacheOptions bad_table;
  bad_table.table_tuning = "no_such_option=1";
  auto c1 = IndexCache::Open(dir(), repo_a_, bad_table);
  ASSERT_FALSE(c1.ok());
  EXPECT_EQ(c1.status().code(), StatusCode::kInvalidArgument) << c1.status().ToString();
  IndexCacheOptions bad_db;
  bad_db.db_tuning = "write_buffer_size=lots";
  auto c2 = IndexCache::Open(dir(), repo_a_, bad_db);
  ASSERT_FALSE(c2.ok());
  EXPECT_EQ(c2.status().code(), StatusCode::kInvalidArgument) << c2.status().ToString();
}

TEST_F(IndexCacheTest, OpenFailsWhereNoDirectoryCanBeMade) {
  const std::string file = tmp_.Sub("a-file");
  std::ofstream(file) << "x";
  auto c = IndexCache::Open(file + "/cache", repo_a_);
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace repo
