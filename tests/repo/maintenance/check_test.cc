// CheckRepository (repo/maintenance/check.h): a clean repository checks clean; each kind of
// damage is an error naming the file that failed, and is reported as the snapshots and paths
// that lost data, nothing more; a pack no index file names is reported as unreferenced, not as an
// error. --read-data finds a damaged data blob the structure pass cannot see, and its slices
// cover every pack once.
#include "repo/maintenance/check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "repo/archiver/archiver.h"
#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "repo/store/pack.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::RandomBytes;

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
    std::filesystem::create_directories(src_ + "/d");
    // About 80 runs at the small chunker's 64 KiB average: a content list over several packs.
    test::WriteFile(src_ + "/big.bin", std::string(AsChars(RandomBytes(5 << 20, 1))));
    test::WriteFile(src_ + "/d/small.txt", "small\n");
    test::WriteFile(src_ + "/d/other.txt", std::string(AsChars(RandomBytes(100 << 10, 2))));
    test::WriteFile(src_ + "/top.txt", "top\n");
    first_ = Snapshot();
    test::WriteFile(src_ + "/later.txt", "written after the first snapshot\n");
    second_ = Snapshot();
  }

  Id Snapshot() {
    SnapshotOptions opts;
    opts.paths = {src_};
    auto snap = RunSnapshot(*repo_, opts, nullptr, {});
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    roots_.push_back(snap->snapshot.tree);
    return snap.ok() ? snap->snapshot_id : Id();
  }

  // Checks through a freshly opened repository (a new process, with the cache it left).
  CheckReport Check(const CheckOptions& options = {}) {
    auto repo = test::OpenRepo(storage_, dir_.Sub("cache"));
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    if (!repo.ok()) return {};
    auto report = CheckRepository(**repo, options, nullptr);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? std::move(*report) : CheckReport{};
  }

  Node NodeAt(const std::string& path) {
    auto n = FindNode(*Store(), roots_.back(), src_ + path);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : Node{};
  }
  BlobStore* Store() { return *repo_->blobs(); }
  BlobLocation Where(const Id& blob) {
    auto loc = Store()->Find(blob);
    EXPECT_TRUE(loc.ok() && *loc) << blob.ShortHex();
    return loc.ok() && *loc ? **loc : BlobLocation{};
  }

  // The damaged paths of the snapshot `id` in `r`, as "path blobs@first_offset" or "path/
  // (listing)".
  std::vector<std::string> Damage(const CheckReport& r, const Id& id) {
    std::vector<std::string> out;
    for (const DamagedSnapshot& d : r.damaged) {
      if (d.id != id) continue;
      for (const DamagedPath& p : d.paths) {
        out.push_back(p.listing ? p.path + " (listing)"
                                : p.path + " " + std::to_string(p.blobs) + "@" +
                                      std::to_string(p.first_offset));
      }
    }
    return out;
  }

  test::TempDir dir_;
  const std::string src_ = dir_.Sub("src");
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  Id first_, second_;
  std::vector<std::vector<Id>> roots_;
};

TEST_F(CheckTest, CleanRepositoryChecksClean) {
  const CheckReport r = Check();
  EXPECT_TRUE(r.ok()) << Joined(r.errors);
  EXPECT_EQ(r.snapshots, 2u);
  EXPECT_GE(r.index_files, 1u);
  EXPECT_EQ(r.packs, storage_.List(FileType::kPack)->size());
  // The two snapshots share every directory but their root: walked once each.
  const size_t depth = std::count(src_.begin(), src_.end(), '/');
  EXPECT_EQ(r.directories, 2 * (depth + 1) + 1);
  EXPECT_GT(r.data_blob_refs, 50u);
  EXPECT_TRUE(r.unreferenced_packs.empty());
  EXPECT_TRUE(r.damaged.empty());
}

TEST_F(CheckTest, MissingPackNamesEverySnapshotAndFileThatLostData) {
  // A pack holding pieces of big.bin and nothing else (which blobs share a pack depends on the
  // pipeline's timing: one holding a tree blob as well would lose a listing too).
  std::vector<ContentRun> runs = *LoadContent(*Store(), NodeAt("/big.bin"), "big.bin");
  ASSERT_GT(runs.size(), 10u);
  std::set<Id> pieces;
  for (const ContentRun& r : runs) pieces.insert(r.blob);
  std::optional<Id> chosen;
  uint64_t offset = 0;  // of the first piece of big.bin in the chosen pack
  for (uint64_t at = 0; const ContentRun& r : runs) {
    const Id pack = Where(r.blob).pack;
    auto header = ReadPackHeader(storage_, repo_->keys().enc_key, pack);
    ASSERT_TRUE(header.ok()) << header.status().ToString();
    bool only = true;
    for (const IndexEntry& e : *header) only &= pieces.count(e.blob) > 0;
    if (only) {
      chosen = pack;
      offset = at;
      break;
    }
    at += r.length;
  }
  ASSERT_TRUE(chosen) << "no pack holds only pieces of big.bin";
  const Id pack = *chosen;
  ASSERT_TRUE(storage_.Delete({FileType::kPack, pack.Hex()}).ok());

  const CheckReport r = Check();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Joined(r.errors).find("pack " + pack.ShortHex() + ": missing"), std::string::npos)
      << Joined(r.errors);
  ASSERT_EQ(r.damaged.size(), 2u);
  // Only big.bin, in both snapshots, from the first piece the pack held.
  for (const Id& s : {first_, second_}) {
    const std::vector<std::string> d = Damage(r, s);
    ASSERT_EQ(d.size(), 1u) << s.ShortHex();
    EXPECT_EQ(d[0].rfind(src_ + "/big.bin ", 0), 0u) << d[0];
    EXPECT_EQ(std::stoull(d[0].substr(d[0].find('@') + 1)), offset);
  }
}

TEST_F(CheckTest, DamagedTreeBlobLosesItsDirectoryOnly) {
  const Node d = NodeAt("/d");
  ASSERT_EQ(d.subtree.size(), 1u);
  const BlobLocation loc = Where(d.subtree[0]);
  ASSERT_TRUE(
      test::FlipStoredByte(storage_, {FileType::kPack, loc.pack.Hex()}, loc.offset + 30).ok());

  const CheckReport r = Check();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Joined(r.errors).find(d.subtree[0].ShortHex()), std::string::npos) << Joined(r.errors);
  for (const Id& s : {first_, second_}) {
    EXPECT_EQ(Damage(r, s), std::vector<std::string>{src_ + "/d/ (listing)"});
  }
}

TEST_F(CheckTest, DamagedKeyFileIsAnErrorNamingIt) {
  auto second = repo_->AddKey(test::Password("another password"), test::FastKdf());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(Check().keys, 2u);
  ASSERT_TRUE(test::FlipStoredByte(storage_, {FileType::kKey, second->Hex()}, 20).ok());
  const CheckReport r = Check();  // opened with the first password
  ASSERT_EQ(r.errors.size(), 1u) << Joined(r.errors);
  EXPECT_NE(r.errors[0].find("key " + second->ShortHex()), std::string::npos) << r.errors[0];
  EXPECT_EQ(r.keys, 1u);
  EXPECT_TRUE(r.damaged.empty());
}

TEST_F(CheckTest, DamagedSnapshotRecordIsAnErrorNamingIt) {
  ASSERT_TRUE(test::FlipStoredByte(storage_, {FileType::kSnapshot, first_.Hex()}, 40).ok());
  const CheckReport r = Check();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.snapshots, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find(first_.ShortHex()), std::string::npos) << r.errors[0];
  EXPECT_TRUE(r.damaged.empty());  // the other snapshot lost nothing
}

TEST_F(CheckTest, DamagedIndexFileIsAnErrorAndItsBlobsAreMissing) {
  // Every index file: the check runs with a fresh cache, which merges none of them.
  const std::vector<FileInfo> index = *storage_.List(FileType::kIndex);
  for (const FileInfo& f : index) {
    ASSERT_TRUE(test::FlipStoredByte(storage_, {FileType::kIndex, f.name}, 20).ok());
  }
  auto repo = test::OpenRepo(storage_, dir_.Sub("fresh-cache"));
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto r = CheckRepository(**repo, {}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->ok());
  EXPECT_NE(Joined(r->errors).find("index file"), std::string::npos) << Joined(r->errors);
  EXPECT_EQ(r->index_files, 0u);
  // Nothing is indexed: the packs are unreferenced and the snapshots' roots are lost.
  EXPECT_EQ(r->unreferenced_packs.size(), storage_.List(FileType::kPack)->size());
  EXPECT_EQ(r->damaged.size(), 2u);
}

TEST_F(CheckTest, PackInNoIndexFileIsUnreferencedNotAnError) {
  // A writer interrupted after its pack and before its index file.
  const std::vector<FileInfo> before = *storage_.List(FileType::kIndex);
  ASSERT_TRUE(Store()->Put(BlobType::kData, RandomBytes(1000, 9)).ok());
  ASSERT_TRUE(Store()->Flush().ok());
  const std::vector<FileInfo> after = *storage_.List(FileType::kIndex);
  for (const FileInfo& f : after) {
    bool old = false;
    for (const FileInfo& b : before) old |= b.name == f.name;
    if (!old) {
      ASSERT_TRUE(storage_.Delete({FileType::kIndex, f.name}).ok());
    }
  }
  const CheckReport r = Check();
  EXPECT_TRUE(r.ok()) << Joined(r.errors);
  EXPECT_EQ(r.unreferenced_packs.size(), 1u);
}

TEST_F(CheckTest, ReadDataFindsADamagedBlobAndNamesItsFileAndOffset) {
  std::vector<ContentRun> runs = *LoadContent(*Store(), NodeAt("/big.bin"), "big.bin");
  const size_t k = runs.size() / 3;
  uint64_t offset = 0;
  for (size_t i = 0; i < k; ++i) offset += runs[i].length;
  const BlobLocation loc = Where(runs[k].blob);
  ASSERT_TRUE(
      test::FlipStoredByte(storage_, {FileType::kPack, loc.pack.Hex()}, loc.offset + 40).ok());
  // The structure pass reads no content: it cannot see this.
  EXPECT_TRUE(Check().ok());

  CheckOptions all;
  all.read_data = CheckOptions::ReadData::kAll;
  const CheckReport r = Check(all);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << Joined(r.errors);
  EXPECT_NE(r.errors[0].find("pack " + loc.pack.ShortHex() + ": 1 of"), std::string::npos)
      << r.errors[0];
  EXPECT_EQ(r.packs_read, storage_.List(FileType::kPack)->size());
  for (const Id& s : {first_, second_}) {
    EXPECT_EQ(Damage(r, s),
              std::vector<std::string>{src_ + "/big.bin 1@" + std::to_string(offset)});
  }
}

TEST_F(CheckTest, ReadDataSlicesCoverEveryPackOnce) {
  const size_t packs = storage_.List(FileType::kPack)->size();
  ASSERT_GT(packs, 3u);
  uint64_t read = 0, bytes = 0;
  for (uint32_t n = 1; n <= 3; ++n) {
    CheckOptions slice;
    slice.read_data = CheckOptions::ReadData::kSubset;
    slice.subset_n = n;
    slice.subset_m = 3;
    const CheckReport r = Check(slice);
    EXPECT_TRUE(r.ok()) << Joined(r.errors);
    read += r.packs_read;
    bytes += r.bytes_read;
  }
  EXPECT_EQ(read, packs);
  CheckOptions all;
  all.read_data = CheckOptions::ReadData::kAll;
  EXPECT_EQ(Check(all).bytes_read, bytes);
}

// A daily job with a budget reads a different pack each time, never-read ones first, until every
// pack has been read; then the one read longest ago. A damaged pack is not remembered as read.
TEST_F(CheckTest, ReadDataBudgetCoversEveryPackInTurn) {
  const size_t packs = storage_.List(FileType::kPack)->size();
  ASSERT_GT(packs, 3u);
  CheckOptions budget;
  budget.read_data = CheckOptions::ReadData::kBudget;
  budget.budget_bytes = 1;  // at least one pack each run: exactly one
  for (size_t run = 1; run <= packs; ++run) {
    const CheckReport r = Check(budget);
    EXPECT_TRUE(r.ok()) << Joined(r.errors);
    EXPECT_EQ(r.packs_read, 1u);
    EXPECT_EQ(r.never_read_packs, packs - run) << "run " << run;
  }
  CheckOptions all;
  all.read_data = CheckOptions::ReadData::kAll;
  const CheckReport again = Check(all);
  EXPECT_EQ(again.never_read_packs, 0u);
  EXPECT_GT(again.oldest_read_s, 0);

  std::vector<ContentRun> runs = *LoadContent(*Store(), NodeAt("/big.bin"), "big.bin");
  const BlobLocation loc = Where(runs[1].blob);
  ASSERT_TRUE(
      test::FlipStoredByte(storage_, {FileType::kPack, loc.pack.Hex()}, loc.offset + 40).ok());
  const CheckReport damaged = Check(all);
  EXPECT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.never_read_packs, 1u);  // the damaged pack counts as never read again
  const CheckReport next = Check(budget);
  EXPECT_FALSE(next.ok()) << "the budget run reads the damaged pack first";
}

}  // namespace
}  // namespace repo
