// ListSnapshots (repo/model/snapshot.h) and the local snapshot cache: a second listing reads no
// record from the repository; new records are read once, removed ones leave the cache; a
// damaged or forged cache entry is read again from the repository, never trusted.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "repo/model/snapshot.h"
#include "repo/storage/memory_backend.h"
#include "repo/store/object_codec.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

class SnapshotListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = test::InitSmallRepo(storage_, cache_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
  }

  // Opens the repository over a counting backend; Reads() counts its reads after the opening.
  std::unique_ptr<Repository> Open() {
    auto backend = std::make_unique<test::FaultyBackend>(storage_);
    counter_ = backend.get();
    auto r = Repository::Open(std::move(backend), test::Password(test::kPassword), cache_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    opening_reads_ = counter_->counts().reads;  // the config and a key file
    return r.ok() ? std::move(r).value() : nullptr;
  }
  uint64_t Reads() const { return counter_->counts().reads - opening_reads_; }

  Id Write(Repository& repo, int64_t time, const std::string& host) {
    Snapshot s;
    s.time_ns = time;
    s.hostname = host;
    s.paths = {"/data"};
    s.tree = {Id()};
    auto id = WriteSnapshot(repo.metadata(), s);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : Id();
  }

  std::vector<std::string> Hosts(Repository& repo) {
    auto all = ListSnapshots(repo);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    std::vector<std::string> hosts;
    if (all.ok()) {
      for (const SnapshotRef& r : *all) hosts.push_back(r.snapshot.hostname);
    }
    return hosts;
  }

  test::TempDir dir_;
  const std::string cache_ = dir_.Sub("cache");
  MemoryBackend storage_;
  test::FaultyBackend* counter_ = nullptr;
  uint64_t opening_reads_ = 0;
};

TEST_F(SnapshotListTest, ASecondListingReadsNoRecordAndNewOnesAreReadOnce) {
  auto repo = Open();
  for (int i = 0; i < 20; ++i) Write(*repo, 100 + i, "h" + std::to_string(i));
  uint64_t before = Reads();
  EXPECT_EQ(Hosts(*repo).size(), 20u);
  EXPECT_EQ(Reads() - before, 20u) << "the first listing reads every record";

  repo = Open();  // another command
  EXPECT_EQ(Hosts(*repo).size(), 20u);
  EXPECT_EQ(Reads(), 0u) << "records were read again though the cache has them";

  const Id gone = Write(*repo, 50, "oldest");
  Write(*repo, 500, "newest");
  ASSERT_TRUE(storage_.Delete({FileType::kSnapshot, gone.Hex()}).ok());
  before = Reads();
  std::vector<std::string> hosts = Hosts(*repo);
  EXPECT_EQ(Reads() - before, 1u) << "only the new record is read";
  ASSERT_EQ(hosts.size(), 21u);
  EXPECT_EQ(hosts.front(), "h0");
  EXPECT_EQ(hosts.back(), "newest");
  repo = Open();
  EXPECT_EQ(Hosts(*repo).size(), 21u);
  EXPECT_EQ(Reads(), 0u);
}

TEST_F(SnapshotListTest, ADamagedOrForgedCacheEntryIsReadFromTheRepository) {
  auto repo = Open();
  Write(*repo, 1, "first");
  Write(*repo, 2, "second");
  ASSERT_EQ(Hosts(*repo).size(), 2u);
  const std::string path = repo->CacheDir() + "/snapshots";
  ASSERT_TRUE(std::filesystem::exists(path));
  std::string bytes = test::ReadFile(path);

  // A flipped byte in a record (its hash no longer matches its name).
  std::string damaged = bytes;
  damaged[damaged.size() - 20] ^= 1;
  test::WriteFile(path, damaged);
  repo = Open();
  EXPECT_EQ(Hosts(*repo), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(Reads(), 1u) << "the damaged entry is read from the repository";
  EXPECT_EQ(test::ReadFile(path), bytes) << "and the cache is mended";

  // A record of another repository under a listed name (sealed with another key).
  MemoryBackend other_storage;
  auto other = test::InitSmallRepo(other_storage, dir_.Sub("other-cache"));
  ASSERT_TRUE(other.ok());
  Snapshot forged;
  forged.hostname = "forged";
  forged.tree = {Id()};
  const Bytes sealed = SealObject(other.value()->keys().enc_key, ObjectKind::kSnapshot,
                                  EncodeSnapshotPayload(forged));
  // Both listed names with the forged record as their bytes.
  Bytes forged_file(bytes.begin(), bytes.begin() + 22);  // the magic line
  ByteWriter w(&forged_file);
  const std::vector<FileInfo> listed = *storage_.List(FileType::kSnapshot);
  for (const FileInfo& f : listed) {
    w.Raw(Id::ParseHex(f.name)->span());
    w.U32(static_cast<uint32_t>(sealed.size()));
    w.Raw(sealed);
  }
  test::WriteFile(path, std::string(AsChars(forged_file)));
  repo = Open();
  EXPECT_EQ(Hosts(*repo), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(Reads(), 2u);

  // Garbage: ignored whole.
  test::WriteFile(path, "not a cache");
  repo = Open();
  EXPECT_EQ(Hosts(*repo), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(Reads(), 2u);
}

}  // namespace
}  // namespace repo
