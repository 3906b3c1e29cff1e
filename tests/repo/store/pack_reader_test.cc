// PackReader (repo/store/pack_reader.h), the one read seam: blobs come back verified and in the
// order asked, adjacent blobs of a pack cost one backend read, and damage is reported naming the
// blob.
#include "repo/store/pack_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "repo/storage/memory_backend.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::FaultyBackend;
using test::RandomBytes;

class PackReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  // Stores `n` blobs of `size` random bytes (seeds from `seed`), flushes, and returns them with
  // their index entries, in the order stored.
  std::vector<std::pair<Bytes, IndexEntry>> Store(size_t n, size_t size, uint64_t seed) {
    std::vector<std::pair<Bytes, IndexEntry>> out;
    for (size_t i = 0; i < n; ++i) {
      Bytes data = RandomBytes(size, seed + i);
      auto put = store_->Put(BlobType::kData, data);
      EXPECT_TRUE(put.ok()) << put.status().ToString();
      out.push_back({std::move(data), IndexEntry{put->id, {}}});
    }
    EXPECT_TRUE(store_->Flush().ok());
    for (auto& [data, entry] : out) {
      auto loc = store_->Find(entry.blob);
      EXPECT_TRUE(loc.ok() && loc->has_value());
      entry.loc = **loc;
    }
    return out;
  }

  std::vector<Bytes> ReadAll(Backend& backend, std::span<const IndexEntry> entries,
                             Status* status) {
    PackReader reader(backend, repo_->keys());
    std::vector<Bytes> got(entries.size());
    std::vector<size_t> order;
    *status = reader.Read(entries, [&](size_t i, Bytes& plain) {
      order.push_back(i);
      got[i] = std::move(plain);
      return Status::OK();
    });
    for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);  // in the order given
    return got;
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
};

TEST_F(PackReaderTest, AdjacentBlobsOfAPackAreOneReadAndComeBackInOrder) {
  auto blobs = Store(12, 20 << 10, 1);  // 240 KiB: one pack
  std::vector<IndexEntry> entries;
  for (auto& [data, e] : blobs) entries.push_back(e);
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.loc.offset < b.loc.offset; });
  FaultyBackend counting(storage_);
  Status s;
  auto got = ReadAll(counting, entries, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counting.counts().reads, 1u);
  for (size_t i = 0; i < entries.size(); ++i) {
    auto it = std::find_if(blobs.begin(), blobs.end(),
                           [&](const auto& b) { return b.second.blob == entries[i].blob; });
    EXPECT_EQ(got[i], it->first);
  }
}

TEST_F(PackReaderTest, BlobsOutOfOrderOrInSeveralPacksAreEachReadAndKeepTheirOrder) {
  auto blobs = Store(12, 200 << 10, 50);  // 2.4 MiB: several 1 MiB packs
  std::vector<IndexEntry> entries;
  for (auto it = blobs.rbegin(); it != blobs.rend(); ++it) entries.push_back(it->second);
  entries.push_back(blobs[3].second);  // one blob twice
  FaultyBackend counting(storage_);
  Status s;
  auto got = ReadAll(counting, entries, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < blobs.size(); ++i) EXPECT_EQ(got[i], blobs[blobs.size() - 1 - i].first);
  EXPECT_EQ(got.back(), blobs[3].first);
  EXPECT_EQ(counting.counts().reads, entries.size());  // reversed: nothing adjacent
}

TEST_F(PackReaderTest, ADamagedBlobIsCorruptionNamingItAndStopsTheRead) {
  auto blobs = Store(4, 20 << 10, 100);
  std::vector<IndexEntry> entries;
  for (auto& [data, e] : blobs) entries.push_back(e);
  const IndexEntry& bad = entries[2];
  ASSERT_TRUE(
      test::FlipStoredByte(storage_, {FileType::kPack, bad.loc.pack.Hex()}, bad.loc.offset + 40)
          .ok());
  PackReader reader(storage_, repo_->keys());
  size_t visited = 0;
  Status s = reader.Read(entries, [&](size_t, Bytes&) {
    ++visited;
    return Status::OK();
  });
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find(bad.blob.ShortHex()), std::string::npos) << s.message();
  EXPECT_LT(visited, entries.size());
}

TEST_F(PackReaderTest, AMissingPackAndAVisitorErrorAreReturned) {
  auto blobs = Store(3, 20 << 10, 200);
  std::vector<IndexEntry> entries;
  for (auto& [data, e] : blobs) entries.push_back(e);
  PackReader reader(storage_, repo_->keys());
  size_t visited = 0;
  Status s = reader.Read(entries, [&](size_t, Bytes&) {
    return ++visited == 2 ? Status::IOError("sink full") : Status::OK();
  });
  EXPECT_EQ(s.message(), "sink full");
  EXPECT_EQ(visited, 2u);
  ASSERT_TRUE(storage_.Delete({FileType::kPack, entries[0].loc.pack.Hex()}).ok());
  s = reader.Read(entries, [](size_t, Bytes&) { return Status::OK(); });
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
}

}  // namespace
}  // namespace repo
