// RestoreSnapshot (repo/restorer/restorer.h) on its own: files whose runs do not fit in one
// restore batch are restored in segments over several batches, byte for byte, holes kept as
// holes, with --verify; hardlinks and directory times come out right; whatever the batch size,
// down to one run.
#include "repo/restorer/restorer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "repo/archiver/archiver.h"
#include "repo/model/tree_io.h"
#include "repo/restorer/content_stream.h"
#include "repo/storage/memory_backend.h"
#include "repo/store/pack.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::RandomBytes;

void WriteAt(const std::string& path, const Bytes& data, off_t offset, off_t size) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(ftruncate(fd, size), 0);
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
  close(fd);
}

class RestorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = test::InitSmallRepo(storage_, dir_.Sub("cache"), "pw");
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
    std::filesystem::create_directories(src_ + "/d");
    // About 320 runs at the small chunker's 64 KiB average: a content list.
    const Bytes big = RandomBytes(20 << 20, 1);
    test::WriteFile(src_ + "/big.bin", std::string(AsChars(big)));
    // Data, a 10 MiB hole, data, a trailing 5 MiB hole.
    WriteAt(src_ + "/sparse.img", RandomBytes(1 << 20, 2), 0, 16 << 20);
    WriteAt(src_ + "/sparse.img", RandomBytes(300 << 10, 3), 11 << 20, 16 << 20);
    WriteAt(src_ + "/d/holes-only", {}, 0, 3 << 20);
    test::WriteFile(src_ + "/d/small.txt", "small\n");
    test::WriteFile(src_ + "/d/empty", "");
    // A hardlink in a later directory (linked once the batch holding its first path is done),
    // and directory times that restoring their contents must not disturb.
    std::filesystem::create_directories(src_ + "/e");
    ASSERT_EQ(link((src_ + "/d/small.txt").c_str(), (src_ + "/e/link").c_str()), 0);
    for (const char* d : {"/d", "/e", ""}) {
      const timespec times[2] = {{1500000000, 0}, {1500000000 + d[0], 0}};
      ASSERT_EQ(utimensat(AT_FDCWD, (src_ + d).c_str(), times, 0), 0);
    }
    SnapshotOptions opts;
    opts.paths = {src_};
    auto snap = RunSnapshot(*repo_, opts, nullptr, {});
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    snapshot_ = snap->snapshot;
  }

  void RestoreAndCompare(size_t runs_per_batch) {
    SCOPED_TRACE("runs_per_batch " + std::to_string(runs_per_batch));
    const std::string target = dir_.Sub("out" + std::to_string(runs_per_batch));
    RestoreOptions opts;
    opts.target = target;
    opts.verify = true;
    opts.runs_per_batch = runs_per_batch;
    auto r = RestoreSnapshot(*repo_, snapshot_, opts, nullptr, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->files, 5u);
    EXPECT_EQ(r->verified_files, 5u);
    for (const char* f : {"big.bin", "sparse.img", "d/holes-only", "d/small.txt", "d/empty"}) {
      EXPECT_EQ(test::ReadFile(target + src_ + "/" + f), test::ReadFile(src_ + "/" + f)) << f;
    }
    struct stat st;
    ASSERT_EQ(stat((target + src_ + "/sparse.img").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 16 << 20);
    EXPECT_LT(st.st_blocks * 512, 4 << 20) << "holes stay holes";
    ASSERT_EQ(stat((target + src_ + "/d/holes-only").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 3 << 20);
    EXPECT_EQ(st.st_blocks, 0);
    struct stat a, b;
    ASSERT_EQ(stat((target + src_ + "/d/small.txt").c_str(), &a), 0);
    ASSERT_EQ(stat((target + src_ + "/e/link").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << "the hardlink is a link again";
    for (const char* d : {"/d", "/e", ""}) {
      ASSERT_EQ(stat((target + src_ + d).c_str(), &st), 0);
      EXPECT_EQ(st.st_mtim.tv_sec, 1500000000 + d[0]) << "mtime of " << src_ << d;
    }
  }

  test::TempDir dir_;
  std::string src_ = dir_.Sub("src");
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  Snapshot snapshot_;
};

TEST_F(RestorerTest, FilesLongerThanABatchAreRestoredInSegments) {
  RestoreAndCompare(7);     // every file with data in several batches
  RestoreAndCompare(3);     // three runs per batch
  RestoreAndCompare(100);   // cuts inside big.bin, others whole
  RestoreAndCompare(1000);  // everything in one batch
}

// Damage in the repository does not stop a restore: every file is restored, the lost ranges as
// zeros, and the damaged file named with them; --verify checks the others.
class RestorerDamageTest : public RestorerTest {
 protected:
  // Damages the data blob holding byte range k of big.bin (flips one byte of it in its pack, or
  // deletes its pack) and returns the range [offset, offset + length) of the file it held.
  std::pair<uint64_t, uint64_t> Damage(bool delete_pack) {
    BlobStore* store = *repo_->blobs();
    auto node = FindNode(*store, snapshot_.tree, src_ + "/big.bin");
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    std::vector<ContentRun> runs = *LoadContent(*store, *node, "big.bin");
    size_t k = runs.size() / 2;
    if (delete_pack) {
      // A pack holding pieces of big.bin only (a tree blob in it would lose a listing, which
      // stops a restore): which blobs share a pack depends on the pipeline's timing.
      std::set<Id> pieces;
      for (const ContentRun& r : runs) pieces.insert(r.blob);
      for (k = 0; k < runs.size(); ++k) {
        auto header =
            ReadPackHeader(storage_, repo_->keys().enc_key, (*store->Find(runs[k].blob))->pack);
        bool only = header.ok();
        for (const IndexEntry& e : header.ok() ? *header : std::vector<IndexEntry>{}) {
          only &= pieces.count(e.blob) > 0;
        }
        if (only) break;
      }
      EXPECT_LT(k, runs.size()) << "no pack holds only pieces of big.bin";
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < k; ++i) offset += runs[i].length;
    const BlobLocation loc = **store->Find(runs[k].blob);
    pack_ = loc.pack;
    const FileHandle h{FileType::kPack, loc.pack.Hex()};
    if (delete_pack) {
      EXPECT_TRUE(storage_.Delete(h).ok());
    } else {
      EXPECT_TRUE(test::FlipStoredByte(storage_, h, loc.offset + 50).ok());
    }
    return {offset, runs[k].length};
  }

  RestoreSummary Restore(const std::string& target) {
    RestoreOptions opts;
    opts.target = target;
    opts.verify = true;
    auto r = RestoreSnapshot(*repo_, snapshot_, opts, nullptr, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RestoreSummary{};
  }

  // The restored big.bin equals the original but for zeros in `lost` (merged ranges).
  void ExpectBigBinBut(const std::string& target,
                       const std::vector<std::pair<uint64_t, uint64_t>>& lost) {
    std::string want = test::ReadFile(src_ + "/big.bin");
    for (const auto& [offset, length] : lost) {
      ASSERT_LE(offset + length, want.size());
      std::fill(want.begin() + offset, want.begin() + offset + length, '\0');
    }
    const std::string got = test::ReadFile(target + src_ + "/big.bin");
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "big.bin differs outside its lost ranges";
    for (const char* f : {"sparse.img", "d/holes-only", "d/small.txt", "d/empty"}) {
      EXPECT_EQ(test::ReadFile(target + src_ + "/" + f), test::ReadFile(src_ + "/" + f)) << f;
    }
  }

  Id pack_;
};

TEST_F(RestorerDamageTest, DamagedBlobIsRestoredAsZerosAndNamed) {
  const auto [offset, length] = Damage(/*delete_pack=*/false);
  const std::string target = dir_.Sub("out");
  const RestoreSummary r = Restore(target);
  EXPECT_EQ(r.files, 5u);
  ASSERT_EQ(r.damaged.size(), 1u);
  EXPECT_EQ(r.damaged[0].path, target + src_ + "/big.bin");
  ASSERT_EQ(r.damaged[0].ranges.size(), 1u);
  EXPECT_EQ(r.damaged[0].ranges[0], std::make_pair(offset, length));
  EXPECT_NE(r.damaged[0].why.find("authentication"), std::string::npos) << r.damaged[0].why;
  EXPECT_EQ(r.verified_files, 4u);  // all but the damaged one
  ExpectBigBinBut(target, r.damaged[0].ranges);
}

TEST_F(RestorerDamageTest, MissingPackLosesOnlyWhatItHeld) {
  const auto [offset, length] = Damage(/*delete_pack=*/true);
  const std::string target = dir_.Sub("out");
  const RestoreSummary r = Restore(target);
  EXPECT_EQ(r.files, 5u);
  ASSERT_EQ(r.damaged.size(), 1u);
  // The pack held the chosen piece and maybe its neighbours, never all of the file.
  const auto& ranges = r.damaged[0].ranges;
  ASSERT_FALSE(ranges.empty());
  bool covers = false;
  uint64_t lost = 0;
  for (const auto& [o, l] : ranges) {
    covers |= o <= offset && offset + length <= o + l;
    lost += l;
  }
  EXPECT_TRUE(covers);
  EXPECT_LT(lost, 5u << 20);
  ExpectBigBinBut(target, ranges);
}

TEST_F(RestorerDamageTest, DumpOfADamagedFileFailsNamingTheOffset) {
  const auto [offset, length] = Damage(/*delete_pack=*/false);
  BlobStore* store = *repo_->blobs();
  const Node node = *FindNode(*store, snapshot_.tree, src_ + "/big.bin");
  std::string got;
  Status s = StreamContent(*repo_, node, [&](ByteSpan b) {
    got.append(AsChars(b));
    return Status::OK();
  });
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("from offset " + std::to_string(offset)), std::string::npos)
      << s.message();
  // Everything before the lost piece was written out, and it is right.
  ASSERT_GE(got.size(), offset);
  EXPECT_EQ(got.substr(0, offset), test::ReadFile(src_ + "/big.bin").substr(0, offset));
}

}  // namespace
}  // namespace repo
