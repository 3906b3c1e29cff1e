// Fault matrix (issue 16): a storage failure (tests/support/faulty_backend.h: the N-th write, or
// every read of a kind of file, fails with an I/O error) under snapshot, repair index, repair
// packs and check.
// Each command fails with a message naming what failed (or, for a check, stops naming it), and
// the repository, opened again without the fault, checks clean and takes the next snapshot.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "repo/archiver/archiver.h"
#include "repo/maintenance/check.h"
#include "repo/maintenance/repair_packs.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::FaultyBackend;
using test::RandomBytes;

class FaultMatrixTest : public ::testing::Test {
 protected:
  // A fresh repository with one snapshot of a small tree (several packs at 1 MiB).
  void Fresh() {
    storage_ = std::make_unique<MemoryBackend>();
    cache_ = dir_.Sub("cache" + std::to_string(fresh_++));
    ASSERT_TRUE(test::InitSmallRepo(*storage_, cache_).ok());
    std::filesystem::remove_all(src_);
    std::filesystem::create_directories(src_ + "/d");
    for (int f = 0; f < 3; ++f) {
      test::WriteFile(src_ + "/d/f" + std::to_string(f),
                      std::string(AsChars(RandomBytes(700 << 10, f))));
    }
    ASSERT_TRUE(Snapshot(*storage_).ok());
    test::WriteFile(src_ + "/new", std::string(AsChars(RandomBytes(1500 << 10, 77))));
  }

  Status Snapshot(Backend& backend) {
    auto repo = Repository::Open(test::Borrow(backend), test::Password(test::kPassword), cache_);
    RETURN_IF_ERROR(repo.status());
    SnapshotOptions opts;
    opts.paths = {src_};
    return RunSnapshot(**repo, opts, nullptr, {}).status();
  }

  // The repository, without faults, checks clean.
  void ExpectClean(const std::string& after) {
    auto repo = test::OpenRepo(*storage_, cache_);
    ASSERT_TRUE(repo.ok()) << after << ": " << repo.status().ToString();
    auto r = CheckRepository(**repo, {}, nullptr);
    ASSERT_TRUE(r.ok()) << after << ": " << r.status().ToString();
    std::string errors;
    for (const std::string& e : r->errors) errors += e + "\n";
    EXPECT_TRUE(r->ok()) << after << ":\n" << errors;
  }

  test::TempDir dir_;
  const std::string src_ = dir_.Sub("src");
  std::unique_ptr<MemoryBackend> storage_;
  std::string cache_;
  int fresh_ = 0;
};

TEST_F(FaultMatrixTest, SnapshotFailingAtEveryWrite) {
  // How many writes the second snapshot makes without a fault.
  Fresh();
  FaultyBackend counting(*storage_);
  ASSERT_TRUE(Snapshot(counting).ok());
  const uint64_t writes = counting.counts().writes;
  ASSERT_GE(writes, 4u);  // packs, index files, the session record, the snapshot record
  for (uint64_t n = 1; n <= writes; ++n) {
    SCOPED_TRACE("write " + std::to_string(n) + " of " + std::to_string(writes));
    Fresh();
    FaultyBackend faulty(*storage_);
    faulty.FailNthWrite(n);
    Status s = Snapshot(faulty);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("injected fault"), std::string::npos) << s.ToString();
    ExpectClean("after the failed snapshot");
    EXPECT_TRUE(Snapshot(*storage_).ok()) << "the next snapshot";
    ExpectClean("after the next snapshot");
  }
}

TEST_F(FaultMatrixTest, RepairFailingAtEveryWrite) {
  Fresh();
  ASSERT_TRUE(Snapshot(*storage_).ok());
  FaultyBackend counting(*storage_);
  {
    auto repo = Repository::Open(test::Borrow(counting), test::Password(test::kPassword), cache_);
    ASSERT_TRUE(repo.ok());
    ASSERT_TRUE((*repo)->RepairIndex().ok());
  }
  const uint64_t writes = counting.counts().writes;
  ASSERT_GE(writes, 1u);
  for (uint64_t n = 1; n <= writes; ++n) {
    SCOPED_TRACE("write " + std::to_string(n) + " of " + std::to_string(writes));
    FaultyBackend faulty(*storage_);
    faulty.FailNthWrite(n);
    {
      auto repo = Repository::Open(test::Borrow(faulty), test::Password(test::kPassword), cache_);
      ASSERT_TRUE(repo.ok());
      auto r = (*repo)->RepairIndex();
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("injected fault"), std::string::npos)
          << r.status().ToString();
    }
    ExpectClean("after the failed repair");
  }
  EXPECT_TRUE(Snapshot(*storage_).ok());
  ExpectClean("after the next snapshot");
}

// The largest pack gets a damaged header (its blobs stay sound). Returns its id.
Id DamageLargestPackHeader(MemoryBackend& storage) {
  Id largest;
  uint64_t size = 0;
  const std::vector<FileInfo> packs = *storage.List(FileType::kPack);
  for (const FileInfo& f : packs) {
    const uint64_t s = storage.Stat({FileType::kPack, f.name})->size.value_or(0);
    if (s > size) {
      size = s;
      largest = *Id::ParseHex(f.name);
    }
  }
  EXPECT_TRUE(test::FlipStoredByte(storage, {FileType::kPack, largest.Hex()}, size - 40).ok());
  return largest;
}

TEST_F(FaultMatrixTest, RepairPacksFailingAtEveryWrite) {
  Fresh();
  Id pack = DamageLargestPackHeader(*storage_);
  FaultyBackend counting(*storage_);
  {
    auto repo = Repository::Open(test::Borrow(counting), test::Password(test::kPassword), cache_);
    ASSERT_TRUE(repo.ok());
    auto r = RepairPacks(**repo, nullptr, std::vector<Id>{pack}, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->packs[0].salvaged, r->packs[0].blobs);
  }
  ExpectClean("after the repair");
  const uint64_t writes = counting.counts().writes;
  ASSERT_GE(writes, 2u);  // the new pack, the index file
  for (uint64_t n = 1; n <= writes; ++n) {
    SCOPED_TRACE("write " + std::to_string(n) + " of " + std::to_string(writes));
    Fresh();
    pack = DamageLargestPackHeader(*storage_);
    FaultyBackend faulty(*storage_);
    faulty.FailNthWrite(n);
    {
      auto repo = Repository::Open(test::Borrow(faulty), test::Password(test::kPassword), cache_);
      ASSERT_TRUE(repo.ok());
      auto r = RepairPacks(**repo, nullptr, std::vector<Id>{pack}, {});
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("injected fault"), std::string::npos)
          << r.status().ToString();
    }
    {  // Nothing is wrong but the damage being repaired; the repair run again finishes it.
      auto repo = test::OpenRepo(*storage_, cache_);
      ASSERT_TRUE(repo.ok());
      auto check = CheckRepository(**repo, {}, nullptr);
      ASSERT_TRUE(check.ok());
      for (const std::string& e : check->errors) {
        EXPECT_NE(e.find("pack " + pack.ShortHex()), std::string::npos) << e;
      }
      auto r = RepairPacks(**repo, nullptr, std::vector<Id>{pack}, {});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    ExpectClean("after the failed repair and the next one");
  }
}

TEST_F(FaultMatrixTest, CheckStopsNamingAFailedReadAndChangesNothing) {
  Fresh();
  for (FileType type : {FileType::kPack, FileType::kIndex, FileType::kSnapshot}) {
    SCOPED_TRACE(std::string(FileTypeName(type)));
    FaultyBackend faulty(*storage_);
    auto repo = Repository::Open(test::Borrow(faulty), test::Password(test::kPassword), cache_);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    ASSERT_TRUE((*repo)->blobs().ok());
    faulty.FailReads(type);
    CheckOptions all;
    all.read_data = CheckOptions::ReadData::kAll;
    auto r = CheckRepository(**repo, all, nullptr);
    ASSERT_FALSE(r.ok()) << "an I/O error is not damage: the check stops";
    EXPECT_EQ(r.status().code(), StatusCode::kIOError);
    EXPECT_NE(r.status().message().find(std::string(FileTypeName(type))), std::string::npos)
        << r.status().ToString();
    EXPECT_EQ(faulty.counts().writes, 0u) << "a check writes nothing to the repository";
  }
  ExpectClean("after the failed checks");
}

}  // namespace
}  // namespace repo
