// SnapshotFile and BlobCache (repo/restorer/snapshot_file.h, blob_cache.h): a file read at any
// offset and size, from any number of threads, gives its bytes (holes as zeros); a read fetches
// only the blobs it covers (and holes nothing); a sequential reader's blobs are fetched ahead;
// a blob that cannot be had fails the read that needs it, naming the file and offset, and no
// other.
#include "repo/restorer/snapshot_file.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::CompressibleBytes;
using test::RandomBytes;

class SnapshotFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  void Data(const Bytes& data) {
    auto put = store_->Put(BlobType::kData, data);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    runs_.push_back(ContentRun{put->id, data.size(), false});
    expected_.insert(expected_.end(), data.begin(), data.end());
  }
  void Hole(uint64_t n) {
    runs_.push_back(ContentRun{Id(), n, true});
    expected_.insert(expected_.end(), n, 0);
  }
  Node File() {
    Node file;
    file.name = "f";
    file.size = expected_.size();
    ContentWriter writer(*store_);
    for (const ContentRun& r : runs_) EXPECT_TRUE(writer.Add(r).ok());
    EXPECT_TRUE(writer.Finish(&file).ok());
    EXPECT_TRUE(store_->Flush().ok());
    return file;
  }
  uint64_t PackBytesRead() {
    return static_cast<test::FaultyBackend&>(repo_->backend()).BytesReadOf(FileType::kPack);
  }
  // A file of `blobs` random 64 KiB blobs, with a hole in the middle: a content list.
  Node LargeFile(int blobs) {
    for (int i = 0; i < blobs; ++i) {
      if (i == blobs / 2) Hole(3 << 20);
      Data(RandomBytes(64 << 10, 1000 + i));
    }
    return File();
  }
  Bytes Expected(uint64_t offset, uint64_t size) const {
    if (offset >= expected_.size()) return {};
    const uint64_t end = std::min<uint64_t>(expected_.size(), offset + size);
    return Bytes(expected_.begin() + offset, expected_.begin() + end);
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
  std::vector<ContentRun> runs_;
  Bytes expected_;
};

TEST_F(SnapshotFileTest, ReadsAtAnyOffsetAndSizeGiveTheFilesBytes) {
  Hole(5000);
  for (int i = 0; i < 90; ++i) Data(RandomBytes(17000 + i * 100, i));  // a content list
  Hole(600000);                                                        // larger than the zero page
  Data(CompressibleBytes(100000, 7));
  Data(RandomBytes(17000, 0));  // the first blob again
  Hole(1);
  const Node node = File();
  ASSERT_TRUE(node.content.list) << "more runs than fit inline: a content list";
  BlobCache cache(*repo_, 1 << 20,
                  2);  // smaller than the file: blobs are evicted and fetched again
  SnapshotFile file(*store_, cache, node, "/f");

  std::mt19937_64 rng(42);
  const uint64_t size = expected_.size();
  std::vector<std::pair<uint64_t, uint64_t>> reads = {
      {0, 1},     {0, 4096},      {4999, 2}, {size - 1, 1},   {size - 1, 100},
      {size, 10}, {size + 5, 10}, {0, size}, {0, size + 100}, {5000, 0}};
  for (int i = 0; i < 200; ++i) {
    const uint64_t at = rng() % (size + 10);
    reads.push_back({at, rng() % 300000});
  }
  for (const auto& [offset, n] : reads) {
    FileRead read;
    Status s = file.Read(offset, n, &read);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(read.Join(), Expected(offset, n)) << "read of " << n << " at " << offset;
  }
}

TEST_F(SnapshotFileTest, ConcurrentReadersOfOneFileEachGetTheirBytes) {
  for (int i = 0; i < 120; ++i) Data(RandomBytes(20000 + i, i));
  const Node node = File();
  BlobCache cache(*repo_, 512 << 10, 2);
  SnapshotFile file(*store_, cache, node, "/f");
  std::vector<std::jthread> readers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 100; ++i) {
        // Two readers sequential (readahead), two at random offsets.
        const uint64_t offset = t < 2 ? (static_cast<uint64_t>(i) * 128 << 10) % expected_.size()
                                      : rng() % expected_.size();
        FileRead read;
        if (!file.Read(offset, 128 << 10, &read).ok() ||
            read.Join() != Expected(offset, 128 << 10)) {
          ++bad;
        }
      }
    });
  }
  readers.clear();
  EXPECT_EQ(bad, 0);
}

TEST_F(SnapshotFileTest, AReadNearTheEndFetchesOnlyTheBlobsItCovers) {
  const Node node = LargeFile(400);  // 25 MiB of data
  ASSERT_TRUE(node.content.list);
  BlobCache cache(*repo_, 64 << 20, 2);
  SnapshotFile file(*store_, cache, node, "/f", /*readahead=*/0);
  const uint64_t before = PackBytesRead();
  FileRead read;
  const uint64_t offset = node.size - (2 << 20) + 12345;
  ASSERT_TRUE(file.Read(offset, 1 << 20, &read).ok());
  EXPECT_EQ(read.Join(), Expected(offset, 1 << 20));
  // 1 MiB spans 17 blobs of 64 KiB; the content list adds a blob per level.
  EXPECT_EQ(cache.stats().fetched, 17u);
  EXPECT_LT(PackBytesRead() - before, (1 << 20) + (256 << 10)) << "read more than nearby";

  // Inside the hole: nothing at all.
  const uint64_t fetched = cache.stats().fetched;
  ASSERT_TRUE(file.Read(200 * (64 << 10) + 1000, 1 << 20, &read).ok());
  EXPECT_EQ(read.Join(), Bytes(1 << 20, 0));
  EXPECT_EQ(cache.stats().fetched, fetched);
}

TEST_F(SnapshotFileTest, SequentialReadsAreFetchedAheadAndRandomOnesAreNot) {
  const Node node = LargeFile(300);
  BlobCache cache(*repo_, 64 << 20, 2);
  SnapshotFile file(*store_, cache, node, "/f", /*readahead=*/4 << 20);
  // Random reads: no readahead.
  std::mt19937_64 rng(7);
  FileRead read;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(file.Read(rng() % node.size, 4096, &read).ok());
  }
  EXPECT_EQ(cache.stats().prefetched, 0u);
  // A sequential reader, 128 KiB at a time as the kernel reads: most blobs were fetched ahead.
  Bytes all;
  for (uint64_t at = 0; at < node.size; at += 128 << 10) {
    ASSERT_TRUE(file.Read(at, 128 << 10, &read).ok());
    const Bytes part = read.Join();
    all.insert(all.end(), part.begin(), part.end());
  }
  EXPECT_EQ(all, expected_);
  // How many the prefetch threads fetched before the reader got there depends on the machine's
  // load; that they fetched ahead at all does not.
  EXPECT_GT(cache.stats().prefetched, 0u) << "of 300 blobs";
}

TEST_F(SnapshotFileTest, ALostBlobFailsOnlyTheReadsThatNeedItNamingFileAndOffset) {
  for (int i = 0; i < 40; ++i) Data(RandomBytes(64 << 10, i));  // 2.5 MiB: 3 packs of 1 MiB
  const Node node = File();
  // The pack of the last blob goes.
  auto where = store_->Find(runs_.back().blob);
  ASSERT_TRUE(where.ok() && *where);
  ASSERT_TRUE(storage_.Delete({FileType::kPack, (*where)->pack.Hex()}).ok());
  BlobCache cache(*repo_, 64 << 20, 0);
  SnapshotFile file(*store_, cache, node, "/dir/f", 0);
  FileRead read;
  Status s = file.Read(node.size - 10, 10, &read);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/dir/f"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(std::to_string(node.size - 10)), std::string::npos) << s.message();
  // The first blob's pack is another one: still readable.
  ASSERT_TRUE(file.Read(0, 1000, &read).ok());
  EXPECT_EQ(read.Join(), Expected(0, 1000));
}

}  // namespace
}  // namespace repo
