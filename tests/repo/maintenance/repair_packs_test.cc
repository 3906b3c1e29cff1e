// RepairPacks (repo/maintenance/repair_packs.h): the readable blobs of a damaged pack move into a
// new pack and stay findable, through warm and fresh caches alike; a blob that cannot be read but
// that another pack also holds is not lost and stays findable there; a dry run changes nothing.
#include "repo/maintenance/repair_packs.h"

#include <gtest/gtest.h>

#include "repo/maintenance/check.h"
#include "repo/storage/memory_backend.h"
#include "repo/store/blob_codec.h"
#include "repo/store/index_file.h"
#include "repo/store/pack.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::RandomBytes;

class RepairPacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
    store_ = *repo_->blobs();
    // x and y in one pack.
    x_ = *store_->Put(BlobType::kData, x_bytes_);
    y_ = *store_->Put(BlobType::kData, y_bytes_);
    ASSERT_TRUE(store_->Flush().ok());
    pack_ = (*store_->Find(x_.id))->pack;
    ASSERT_EQ((*store_->Find(y_.id))->pack, pack_);
  }

  // Stores x again in a pack of its own, with an index file naming it (as two writers that
  // stored the same blob at once leave it).
  Id StoreXAgain() {
    const MasterKeys& keys = repo_->keys();
    PackWriter writer(keys.enc_key);
    writer.Add(BlobType::kData, x_.id,
               EncodeBlob(keys, BlobType::kData, x_.id, x_bytes_, repo_->config().zstd_level));
    auto pack = writer.Finish();
    EXPECT_TRUE(pack.ok());
    EXPECT_TRUE(storage_.Write({FileType::kPack, pack->id.Hex()}, pack->bytes).ok());
    EXPECT_TRUE(repo_->metadata()
                    .Write(FileType::kIndex, EncodeIndexFile(keys.enc_key, pack->entries))
                    .ok());
    return pack->id;
  }

  // Damages blob `id`'s sealed bytes in pack_.
  void Damage(const Id& id) {
    auto header = ReadPackHeader(storage_, repo_->keys().enc_key, pack_);
    ASSERT_TRUE(header.ok());
    for (const IndexEntry& e : *header) {
      if (e.blob == id) {
        ASSERT_TRUE(
            test::FlipStoredByte(storage_, {FileType::kPack, pack_.Hex()}, e.loc.offset + 40).ok());
      }
    }
  }

  void ExpectReadable(Repository& repo, const PutResult& blob, const Bytes& bytes) {
    auto store = repo.blobs();
    ASSERT_TRUE(store.ok());
    auto got = (*store)->Get(BlobType::kData, blob.id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, bytes);
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
  const Bytes x_bytes_ = RandomBytes(200 << 10, 1), y_bytes_ = RandomBytes(300 << 10, 2);
  PutResult x_, y_;
  Id pack_;
};

TEST_F(RepairPacksTest, ABlobAnotherPackHoldsIsNotLostAndStaysFindable) {
  const Id other = StoreXAgain();
  Damage(x_.id);

  RepairPacksOptions dry;
  dry.dry_run = true;
  auto r = RepairPacks(*repo_, nullptr, std::vector<Id>{pack_}, dry);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(storage_.Stat({FileType::kPack, pack_.Hex()}).ok()) << "a dry run deletes nothing";
  EXPECT_EQ(storage_.List(FileType::kPack)->size(), 2u) << "a dry run writes nothing";

  r = RepairPacks(*repo_, nullptr, std::vector<Id>{pack_}, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->packs.size(), 1u);
  EXPECT_EQ(r->packs[0].blobs, 2u);
  EXPECT_EQ(r->packs[0].salvaged, 1u);   // y
  EXPECT_EQ(r->packs[0].elsewhere, 1u);  // x, in `other`
  EXPECT_EQ(r->packs[0].lost, 0u);
  EXPECT_TRUE(r->lost_blobs.empty());
  ASSERT_EQ(r->new_packs.size(), 1u);
  EXPECT_TRUE(storage_.Stat({FileType::kPack, pack_.Hex()}).status().IsNotFound());

  ExpectReadable(*repo_, x_, x_bytes_);  // the warm cache, brought up to date
  ExpectReadable(*repo_, y_, y_bytes_);
  EXPECT_EQ((*store_->Find(x_.id))->pack, other);
  auto fresh = test::OpenRepo(storage_, dir_.Sub("fresh-cache"));
  ASSERT_TRUE(fresh.ok());
  ExpectReadable(**fresh, x_, x_bytes_);
  ExpectReadable(**fresh, y_, y_bytes_);
  CheckOptions all;
  all.read_data = CheckOptions::ReadData::kAll;
  auto check = CheckRepository(**fresh, all, nullptr);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << (check->errors.empty() ? "" : check->errors[0]);
}

TEST_F(RepairPacksTest, ABlobNoOtherPackHoldsIsLostAndNamed) {
  Damage(y_.id);
  auto r = RepairPacks(*repo_, nullptr, std::vector<Id>{pack_}, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->packs.size(), 1u);
  EXPECT_EQ(r->packs[0].salvaged, 1u);
  EXPECT_EQ(r->packs[0].lost, 1u);
  EXPECT_NE(r->packs[0].first_loss.find(y_.id.ShortHex()), std::string::npos)
      << r->packs[0].first_loss;
  EXPECT_EQ(r->lost_blobs, std::vector<Id>{y_.id});
  ExpectReadable(*repo_, x_, x_bytes_);
  auto fresh = test::OpenRepo(storage_, dir_.Sub("fresh-cache"));
  ASSERT_TRUE(fresh.ok());
  ExpectReadable(**fresh, x_, x_bytes_);
  EXPECT_TRUE((*(*fresh)->blobs())->Get(BlobType::kData, y_.id).status().IsNotFound());
}

// An earlier replacement interrupted before it deleted the file it replaced (both are there):
// the repair replaces that leftover too, so that nothing brings it back in force once the file
// replacing it is replaced in turn.
TEST_F(RepairPacksTest, ALeftoverOfAnInterruptedReplacementIsReplacedToo) {
  const std::vector<FileInfo> index = *storage_.List(FileType::kIndex);
  ASSERT_EQ(index.size(), 1u);
  const Id leftover = *Id::ParseHex(index[0].name);
  IndexFile replacing = *repo_->ReadIndexFile(leftover);
  replacing.supersedes = {leftover};
  ASSERT_TRUE(repo_->metadata()
                  .Write(FileType::kIndex, EncodeIndexFile(repo_->keys().enc_key, replacing))
                  .ok());
  Damage(y_.id);
  auto r = RepairPacks(*repo_, nullptr, std::vector<Id>{pack_}, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(storage_.Stat({FileType::kIndex, leftover.Hex()}).status().IsNotFound());
  auto fresh = test::OpenRepo(storage_, dir_.Sub("fresh-cache"));
  ASSERT_TRUE(fresh.ok());
  ExpectReadable(**fresh, x_, x_bytes_);
  auto check = CheckRepository(**fresh, {}, nullptr);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << (check->errors.empty() ? "" : check->errors[0]);
}

TEST_F(RepairPacksTest, APackNoIndexFileNamesIsLeftAlone) {
  const Id other = StoreXAgain();
  // Its index file gone: the pack is a running writer's, as far as anyone can tell.
  const std::vector<FileInfo> index = *storage_.List(FileType::kIndex);
  for (const FileInfo& f : index) {
    auto file = repo_->ReadIndexFile(*Id::ParseHex(f.name));
    ASSERT_TRUE(file.ok()) << f.name << ": " << file.status().ToString();
    if (file->entries.size() == 1) ASSERT_TRUE(storage_.Delete({FileType::kIndex, f.name}).ok());
  }
  auto r = RepairPacks(*repo_, nullptr, std::vector<Id>{other}, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->packs.size(), 1u);
  EXPECT_NE(r->packs[0].skipped, "");
  EXPECT_TRUE(storage_.Stat({FileType::kPack, other.Hex()}).ok());
  EXPECT_TRUE(r->new_packs.empty());
}

}  // namespace
}  // namespace repo
