// Repository (repo/store/repository.h): init and open, passwords and format versions, key
// management, id prefixes, and rebuilding the index from packs.
#include "repo/store/repository.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/storage/local_backend.h"
#include "repo/storage/memory_backend.h"
#include "repo/store/index_file.h"
#include "repo/store/object_codec.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::FaultyBackend;
using test::Password;
using test::RandomBytes;

constexpr size_t kBigBlob = 200 << 10;  // five fit a 1 MiB pack, the sixth closes it
const FileHandle kConfigFile{FileType::kConfig, ""};

class RepositoryTest : public ::testing::Test {
 protected:
  std::string FreshCache() { return dir_.Sub("cache" + std::to_string(caches_++)); }

  std::unique_ptr<Repository> Init(std::string_view password = test::kPassword) {
    auto r = test::InitSmallRepo(storage_, FreshCache(), password);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  Result<std::unique_ptr<Repository>> Open(std::string_view password = test::kPassword,
                                           std::string cache = "") {
    return test::OpenRepo(storage_, cache.empty() ? FreshCache() : cache, password);
  }
  std::unique_ptr<Repository> MustOpen(std::string_view password = test::kPassword,
                                       std::string cache = "") {
    auto r = Open(password, cache);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  static BlobStore* Blobs(Repository& r) {
    auto s = r.blobs();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }
  // Puts blobs 0..n-1 of kBigBlob random bytes (seeded by their number) and flushes.
  std::vector<Id> PutBig(Repository& r, int first, int n) {
    BlobStore* s = Blobs(r);
    std::vector<Id> ids;
    for (int i = first; i < first + n; ++i) {
      Result<PutResult> p = s->Put(BlobType::kData, RandomBytes(kBigBlob, i));
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      ids.push_back(p.ok() ? p->id : Id());
    }
    EXPECT_TRUE(s->Flush().ok());
    return ids;
  }
  static StatusCode GetCode(Repository& r, const Id& id) {
    return Blobs(r)->Get(BlobType::kData, id).status().code();
  }
  void DeleteAll(FileType type) {
    const std::vector<FileInfo> files = *storage_.List(type);
    for (const FileInfo& f : files) ASSERT_TRUE(storage_.Delete({type, f.name}).ok());
  }
  size_t Count(FileType type) { return storage_.List(type)->size(); }

  test::TempDir dir_;
  int caches_ = 0;
  MemoryBackend storage_;
};

// --- Init and Open ---------------------------------------------------------------------------

TEST_F(RepositoryTest, InitThenOpenWithTheRightPassword) {
  auto made = Init();
  ASSERT_NE(made, nullptr);
  EXPECT_EQ(Count(FileType::kKey), 1u);
  EXPECT_EQ(Count(FileType::kConfig), 1u);
  auto opened = MustOpen();
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened->config().id, made->config().id);
  EXPECT_FALSE(opened->config().id.IsZero());
  EXPECT_EQ(opened->config().pack_size, test::kSmallPackSize);
  EXPECT_EQ(opened->config().chunker.max_size, test::SmallChunker().max_size);
  EXPECT_EQ(opened->key_id(), made->key_id());
  EXPECT_TRUE(opened->keys().enc_key.Equals(made->keys().enc_key));
  EXPECT_TRUE(opened->keys().id_key.Equals(made->keys().id_key));
  EXPECT_EQ(opened->gear_table(), made->gear_table());
}

TEST_F(RepositoryTest, EachRepositoryHasItsOwnIdKeysAndGearTable) {
  auto a = Init();
  MemoryBackend other_storage;
  auto b = test::InitSmallRepo(other_storage, FreshCache());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->config().id, (*b)->config().id);
  EXPECT_FALSE(a->keys().enc_key.Equals((*b)->keys().enc_key));
  EXPECT_NE(a->gear_table(), (*b)->gear_table());
}

TEST_F(RepositoryTest, InitRefusesAnExistingRepository) {
  Init();
  auto again = test::InitSmallRepo(storage_, FreshCache());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Count(FileType::kKey), 1u);
}

TEST_F(RepositoryTest, InitRefusesBadOptionsBeforeWritingAnything) {
  InitOptions small_pack = test::SmallRepoOptions();
  small_pack.pack_size = 1000;
  InitOptions bad_kdf = test::SmallRepoOptions();
  bad_kdf.kdf.memlimit = 1;
  InitOptions bad_level = test::SmallRepoOptions();
  bad_level.zstd_level = 42;
  for (const InitOptions& o : {small_pack, bad_kdf, bad_level}) {
    auto r = Repository::Init(test::Borrow(storage_), Password("pw"), o, FreshCache());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  auto r = Repository::Init(test::Borrow(storage_), Password(""), test::SmallRepoOptions(),
                            FreshCache());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(FileType::kKey), 0u);
  EXPECT_EQ(Count(FileType::kConfig), 0u);
}

TEST_F(RepositoryTest, InitThatFailsBeforeTheConfigLeavesNoRepository) {
  FaultyBackend faulty(storage_);
  faulty.FailWritesOf(FileType::kConfig);
  auto r = Repository::Init(test::Borrow(faulty), Password("pw"), test::SmallRepoOptions(),
                            FreshCache());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_EQ(Open("pw").status().code(), StatusCode::kNotFound);
  // The orphan key file does not stop a new init.
  EXPECT_NE(Init("other password"), nullptr);
  EXPECT_NE(MustOpen("other password"), nullptr);
}

// An init whose config write fails removes the key it wrote, so a retry starts clean.
TEST(RepositoryRetriedInitTest, FailedInitLeavesNoKey) {
  test::TempDir dir;
  MemoryBackend storage;
  FaultyBackend faulty(storage);
  faulty.FailWritesOf(FileType::kConfig);
  ASSERT_FALSE(Repository::Init(test::Borrow(faulty), Password("pw"), test::SmallRepoOptions(),
                                dir.Sub("c0"))
                   .ok());
  EXPECT_TRUE(storage.List(FileType::kKey)->empty());
  auto made = test::InitSmallRepo(storage, dir.Sub("c1"), "pw");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(test::OpenRepo(storage, dir.Sub("c2"), "pw").ok());
}

// A crash between an init's key write and its config write leaves an orphan key that opens with
// the same password but not the config. Open skips it, whichever key sorts first.
TEST(RepositoryRetriedInitTest, OrphanKeyWithTheSamePasswordIsSkipped) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    test::TempDir dir;
    MemoryBackend storage;
    auto made = test::InitSmallRepo(storage, dir.Sub("c1"), "pw");
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    auto orphan = CreateKeyFile(MasterKeys::Generate(), Password("pw"),
                                test::SmallRepoOptions().kdf, KeyFileInfo{});
    ASSERT_TRUE(orphan.ok());
    const Id orphan_id = PlainHash(*orphan);
    ASSERT_TRUE(storage.Write({FileType::kKey, orphan_id.Hex()}, *orphan).ok());
    if ((*made)->key_id() < orphan_id) continue;  // want the orphan tried first
    auto opened = test::OpenRepo(storage, dir.Sub("c2"), "pw");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ((*opened)->key_id(), (*made)->key_id());
    return;
  }
  FAIL() << "the orphan key never sorted first";
}

TEST_F(RepositoryTest, WrongPasswordIsRefused) {
  Init();
  Status s = Open("not the password").status();
  EXPECT_EQ(s.code(), StatusCode::kWrongPassword) << s.ToString();
}

TEST_F(RepositoryTest, NoConfigIsNotFound) {
  EXPECT_EQ(Open().status().code(), StatusCode::kNotFound);
  // A key file alone is not a repository either.
  Init();
  ASSERT_TRUE(storage_.Delete(kConfigFile).ok());
  EXPECT_EQ(Open().status().code(), StatusCode::kNotFound);
}

TEST_F(RepositoryTest, NewerConfigEnvelopeIsRefusedBeforeAnyPasswordWork) {
  Init();
  ASSERT_TRUE(test::FlipStoredByte(storage_, kConfigFile, 4, 0x01 ^ 0x02).ok());  // version 1 -> 2
  for (std::string_view password : {test::kPassword, std::string_view("wrong password")}) {
    FaultyBackend counting(storage_);
    auto r = Repository::Open(test::Borrow(counting), Password(password), FreshCache());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupportedVersion)
        << password << ": " << r.status().ToString();
    // Only the config was read: no key file was tried.
    EXPECT_EQ(counting.counts().reads, 1u);
  }
}

TEST_F(RepositoryTest, NewerConfigPayloadIsUnsupported) {
  auto made = Init();
  RepositoryConfig newer = made->config();
  newer.version = RepositoryConfig::kFormatVersion + 1;
  Bytes sealed = SealObject(made->keys().enc_key, ObjectKind::kConfig, newer.Encode());
  ASSERT_TRUE(test::ReplaceFile(storage_, kConfigFile, sealed).ok());
  EXPECT_EQ(Open().status().code(), StatusCode::kUnsupportedVersion);
}

TEST_F(RepositoryTest, DamagedConfigIsCorruption) {
  Init();
  auto config = storage_.Read(kConfigFile, 0, Backend::kToEnd);
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(test::FlipStoredByte(storage_, kConfigFile, config->size() - 1).ok());
  EXPECT_EQ(Open().status().code(), StatusCode::kCorruption);
}

TEST_F(RepositoryTest, InitAndOpenOnALocalDirectory) {
  const std::string path = dir_.Sub("repo");
  Id id;
  {
    auto backend = LocalBackend::Create(path);
    ASSERT_TRUE(backend.ok());
    auto r = Repository::Init(std::move(backend).value(), Password("pw"), test::SmallRepoOptions(),
                              FreshCache());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    id = (*r)->config().id;
  }
  auto backend = LocalBackend::Open(path);
  ASSERT_TRUE(backend.ok());
  auto r = Repository::Open(std::move(backend).value(), Password("pw"), FreshCache());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->config().id, id);
  EXPECT_EQ(LocalBackend::Create(path).status().code(), StatusCode::kAlreadyExists);
}

// --- Keys ------------------------------------------------------------------------------------

TEST_F(RepositoryTest, AddedKeyOpensTheSameRepository) {
  auto repo = Init("first");
  Result<Id> added = repo->AddKey(Password("second"), test::FastKdf());
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  auto via_second = MustOpen("second");
  ASSERT_NE(via_second, nullptr);
  EXPECT_EQ(via_second->key_id(), *added);
  EXPECT_TRUE(via_second->keys().enc_key.Equals(repo->keys().enc_key));
  EXPECT_NE(MustOpen("first"), nullptr);

  auto keys = repo->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  std::set<Id> ids;
  int current = 0;
  for (const KeyDescription& k : *keys) {
    ids.insert(k.id);
    EXPECT_EQ(k.info.kdf.opslimit, test::FastKdf().opslimit);
    if (k.current) {
      ++current;
      EXPECT_EQ(k.id, repo->key_id());
    }
  }
  EXPECT_EQ(current, 1);
  EXPECT_EQ(ids, (std::set<Id>{repo->key_id(), *added}));
}

TEST_F(RepositoryTest, AddKeyRefusesBadKdf) {
  auto repo = Init();
  EXPECT_EQ(repo->AddKey(Password("x"), KdfParams{0, 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(FileType::kKey), 1u);
}

TEST_F(RepositoryTest, RemoveKeyRemovesAnotherKey) {
  auto repo = Init("first");
  Result<Id> added = repo->AddKey(Password("second"), test::FastKdf());
  ASSERT_TRUE(added.ok());
  ASSERT_TRUE(repo->RemoveKey(*added).ok());
  EXPECT_EQ(Open("second").status().code(), StatusCode::kWrongPassword);
  EXPECT_NE(MustOpen("first"), nullptr);
  EXPECT_EQ(repo->RemoveKey(*added).code(), StatusCode::kNotFound);
}

TEST_F(RepositoryTest, RemoveKeyRefusesTheCurrentKey) {
  auto repo = Init("first");
  ASSERT_TRUE(repo->AddKey(Password("second"), test::FastKdf()).ok());
  EXPECT_EQ(repo->RemoveKey(repo->key_id()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(FileType::kKey), 2u);
  EXPECT_NE(MustOpen("first"), nullptr);
}

TEST_F(RepositoryTest, RemoveKeyRefusesTheLastKey) {
  // A process opened with key A; meanwhile another, opened with key B, removed A. Now B is the
  // only key left and A's process must not remove it.
  auto a = Init("first");
  ASSERT_TRUE(a->AddKey(Password("second"), test::FastKdf()).ok());
  auto b = MustOpen("second");
  ASSERT_TRUE(b->RemoveKey(a->key_id()).ok());
  EXPECT_EQ(a->RemoveKey(b->key_id()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(FileType::kKey), 1u);
  EXPECT_NE(MustOpen("second"), nullptr);
}

TEST_F(RepositoryTest, ChangePasswordReplacesTheCurrentKey) {
  auto repo = Init("old");
  const Id old_key = repo->key_id();
  Result<Id> changed = repo->ChangePassword(Password("new"), test::FastKdf());
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_NE(*changed, old_key);
  EXPECT_EQ(repo->key_id(), *changed);
  EXPECT_EQ(Open("old").status().code(), StatusCode::kWrongPassword);
  auto reopened = MustOpen("new");
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->key_id(), *changed);
  auto keys = repo->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE((*keys)[0].current);
}

TEST_F(RepositoryTest, DamagedKeyFileDoesNotStopAnotherKey) {
  auto repo = Init("first");
  Result<Id> second = repo->AddKey(Password("second"), test::FastKdf());
  ASSERT_TRUE(second.ok());
  const FileHandle h{FileType::kKey, second->Hex()};
  auto bytes = storage_.Read(h, 0, Backend::kToEnd);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(test::FlipStoredByte(storage_, h, bytes->size() - 1).ok());
  EXPECT_NE(MustOpen("first"), nullptr);
  // Its own password: the damage is named (the file no longer hashes to its name), not taken
  // for a wrong password.
  Status s = Open("second").status();
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("key file " + second->ShortHex() + " is damaged"), std::string::npos)
      << s.ToString();
}

// --- ResolvePrefix ---------------------------------------------------------------------------

TEST_F(RepositoryTest, ResolvePrefixFindsUniqueMatchesOnly) {
  auto repo = Init();
  const std::string a = "abcd0" + std::string(59, '1');
  const std::string b = "abcd1" + std::string(59, '2');
  const std::string c = "ef01" + std::string(60, '3');
  for (const std::string& n : {a, b, c}) {
    ASSERT_TRUE(storage_.Write({FileType::kSnapshot, n}, AsBytes("s")).ok());
  }
  ASSERT_TRUE(storage_.Write({FileType::kIndex, "9999" + std::string(60, '0')}, AsBytes("i")).ok());

  Result<Id> got = repo->ResolvePrefix(FileType::kSnapshot, "abcd0");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->Hex(), a);
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, "ef01")->Hex(), c);
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, b)->Hex(), b);
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, "abcd").status().code(),
            StatusCode::kInvalidArgument);  // ambiguous
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, "abc").status().code(),
            StatusCode::kInvalidArgument);  // too short
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, "ffff").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(repo->ResolvePrefix(FileType::kSnapshot, "9999").status().code(),
            StatusCode::kNotFound);  // other types do not count
  EXPECT_EQ(repo->ResolvePrefix(FileType::kIndex, "9999")->Hex(), "9999" + std::string(60, '0'));
}

// --- Index rebuild ---------------------------------------------------------------------------

TEST_F(RepositoryTest, RepairIndexRebuildsLostIndexFiles) {
  std::vector<Id> ids;
  {
    auto repo = Init();
    ids = PutBig(*repo, 0, 13);  // two full packs and one with a single blob
  }
  ASSERT_EQ(Count(FileType::kPack), 3u);
  DeleteAll(FileType::kIndex);

  auto repo = MustOpen();
  EXPECT_EQ(GetCode(*repo, ids[0]), StatusCode::kNotFound);
  Result<RepairIndexReport> report = repo->RepairIndex();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->packs_read, 3u);
  EXPECT_EQ(report->blobs_indexed, 13u);
  EXPECT_TRUE(report->bad_packs.empty());
  EXPECT_EQ(report->index_files_written, 1u);
  EXPECT_EQ(report->index_files_removed, 0u);
  for (int i = 0; i < 13; ++i) {
    Result<Bytes> got = Blobs(*repo)->Get(BlobType::kData, ids[i]);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    EXPECT_TRUE(*got == RandomBytes(kBigBlob, i));
  }
  // The new index files are in the repository, not just in this process's cache.
  auto other = MustOpen();
  for (const Id& id : ids) EXPECT_EQ(GetCode(*other, id), StatusCode::kOk);
}

TEST_F(RepositoryTest, RepairIndexReportsAPackWithABadTrailerAndIndexesTheRest) {
  std::vector<Id> ids;
  {
    auto repo = Init();
    ids = PutBig(*repo, 0, 13);
  }
  auto repo = MustOpen();
  auto loc = Blobs(*repo)->Find(ids[0]);  // in the first full pack
  ASSERT_TRUE(loc.ok() && loc->has_value());
  const Id bad = (*loc)->pack;
  const FileHandle h{FileType::kPack, bad.Hex()};
  ASSERT_TRUE(test::FlipStoredByte(storage_, h, *storage_.Stat(h)->size - 1).ok());  // "RPAK"

  Result<RepairIndexReport> report = repo->RepairIndex();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->packs_read, 3u);
  EXPECT_EQ(report->blobs_indexed, 13u - 6);
  ASSERT_EQ(report->bad_packs.size(), 1u);
  EXPECT_NE(report->bad_packs[0].find(bad.ShortHex()), std::string::npos) << report->bad_packs[0];
  EXPECT_EQ(report->index_files_removed, 1u);
  EXPECT_EQ(Count(FileType::kPack), 3u) << "the bad pack is left in place";
  for (int i = 0; i < 13; ++i) {
    Result<Bytes> got = Blobs(*repo)->Get(BlobType::kData, ids[i]);
    if (i < 6) {
      EXPECT_EQ(got.status().code(), StatusCode::kNotFound) << i;
    } else {
      EXPECT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    }
  }
}

TEST_F(RepositoryTest, CacheMissingAnIndexFileIsRebuiltOnOpen) {
  const std::string cache = FreshCache();
  Init();
  std::vector<Id> first, second;
  {
    auto repo = MustOpen(test::kPassword, cache);
    first = PutBig(*repo, 0, 2);  // index file X, merged into `cache`
  }
  const std::string x = storage_.List(FileType::kIndex)->at(0).name;
  {
    auto other = MustOpen();  // another machine, another cache
    second = PutBig(*other, 10, 2);
  }
  // X disappears behind the cache's back; the cache still lists its blobs.
  ASSERT_TRUE(storage_.Delete({FileType::kIndex, x}).ok());

  auto repo = MustOpen(test::kPassword, cache);
  for (const Id& id : first) EXPECT_EQ(GetCode(*repo, id), StatusCode::kNotFound);
  for (const Id& id : second) EXPECT_EQ(GetCode(*repo, id), StatusCode::kOk);
}

TEST_F(RepositoryTest, CacheIsRebuiltAfterAnotherProcessRepairedTheIndex) {
  const std::string cache = FreshCache();
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen(test::kPassword, cache);
    ids = PutBig(*repo, 0, 3);
    std::vector<Id> more = PutBig(*repo, 3, 3);  // a second index file
    ids.insert(ids.end(), more.begin(), more.end());
  }
  ASSERT_EQ(Count(FileType::kIndex), 2u);
  {
    auto other = MustOpen();
    auto report = other->RepairIndex();  // replaces both index files with one
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->index_files_removed, 2u);
  }
  ASSERT_EQ(Count(FileType::kIndex), 1u);
  auto repo = MustOpen(test::kPassword, cache);
  for (int i = 0; i < 6; ++i) {
    Result<Bytes> got = Blobs(*repo)->Get(BlobType::kData, ids[i]);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    EXPECT_TRUE(*got == RandomBytes(kBigBlob, i));
  }
}

TEST_F(RepositoryTest, CachePicksUpIndexFilesWrittenByOthers) {
  const std::string cache = FreshCache();
  Init();
  {
    auto repo = MustOpen(test::kPassword, cache);
    PutBig(*repo, 0, 1);
  }
  std::vector<Id> theirs;
  {
    auto other = MustOpen();
    theirs = PutBig(*other, 50, 2);
  }
  auto repo = MustOpen(test::kPassword, cache);
  for (const Id& id : theirs) EXPECT_EQ(GetCode(*repo, id), StatusCode::kOk);
}

// Opens the repository with cache `cache`, keeping what it warns about in *warnings.
std::unique_ptr<Repository> OpenWarned(Backend& storage, const std::string& cache,
                                       std::vector<std::string>* warnings) {
  auto r = Repository::Open(test::Borrow(storage), Password(test::kPassword), cache,
                            [warnings](const std::string& m) { warnings->push_back(m); });
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Consolidation: one index file replaces several; a cache that merged them applies it in place
// (no rebuild), and every blob is still found.
TEST_F(RepositoryTest, ConsolidatedIndexFilesAreAppliedWithoutARebuild) {
  const std::string cache = FreshCache();
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen(test::kPassword, cache);
    for (int i = 0; i < 4; ++i) {
      for (const Id& id : PutBig(*repo, 3 * i, 3)) ids.push_back(id);  // one index file each
    }
  }
  std::vector<Id> files;
  const std::vector<FileInfo> listed = *storage_.List(FileType::kIndex);
  for (const FileInfo& f : listed) files.push_back(*Id::ParseHex(f.name));
  ASSERT_EQ(files.size(), 4u);
  {
    auto other = MustOpen();
    Result<size_t> replaced = other->ConsolidateIndex(files);
    ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
    EXPECT_EQ(*replaced, 4u);
    for (const Id& id : ids) EXPECT_EQ(GetCode(*other, id), StatusCode::kOk);
  }
  ASSERT_EQ(Count(FileType::kIndex), 1u);
  std::vector<std::string> warnings;
  auto repo = OpenWarned(storage_, cache, &warnings);
  for (int i = 0; i < 12; ++i) {
    Result<Bytes> got = Blobs(*repo)->Get(BlobType::kData, ids[i]);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    EXPECT_TRUE(*got == RandomBytes(kBigBlob, i));
  }
  EXPECT_TRUE(warnings.empty()) << "the cache was rebuilt: " << warnings[0];
  // A fresh cache reads the one file.
  for (const Id& id : ids) EXPECT_EQ(GetCode(*MustOpen(), id), StatusCode::kOk);
}

// Readers opening the repository while its index files are consolidated underneath them each
// find every blob: a listed file gone when read was replaced, and the listing is retried.
TEST_F(RepositoryTest, ConcurrentReadersDuringConsolidationFindEveryBlob) {
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen();
    for (int i = 0; i < 6; ++i) {
      for (const Id& id : PutBig(*repo, 2 * i, 2)) ids.push_back(id);
    }
  }
  std::atomic<bool> done{false};
  std::atomic<int> rounds{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      for (int i = 0; !done || i < 3; ++i) {
        auto repo = test::OpenRepo(
            storage_, dir_.Sub("reader" + std::to_string(r) + "-" + std::to_string(i)));
        ASSERT_TRUE(repo.ok()) << repo.status().ToString();
        auto store = (*repo)->blobs();
        ASSERT_TRUE(store.ok()) << store.status().ToString();
        std::vector<std::optional<BlobLocation>> found;
        ASSERT_TRUE((*store)->FindMany(ids, &found).ok());
        for (size_t k = 0; k < ids.size(); ++k) ASSERT_TRUE(found[k]) << k;
        ++rounds;
      }
    });
  }
  {
    auto repo = MustOpen();
    for (int pass = 0; pass < 2; ++pass) {  // pairs of files, then the rest
      std::vector<Id> files;
      const std::vector<FileInfo> listed = *storage_.List(FileType::kIndex);
      for (const FileInfo& f : listed) files.push_back(*Id::ParseHex(f.name));
      if (pass == 0) files.resize(2);
      auto replaced = repo->ConsolidateIndex(files);
      ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_GE(rounds.load(), 6);
  EXPECT_EQ(Count(FileType::kIndex), 1u);
}

// Repair by another process replaces the old index files and removes the entries of a pack that
// is gone: this cache applies it without a rebuild, and the lost pack's blobs are not found.
TEST_F(RepositoryTest, ARepairIsAppliedByOtherCachesWithoutARebuild) {
  const std::string cache = FreshCache();
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen(test::kPassword, cache);
    ids = PutBig(*repo, 0, 13);  // packs of 6, 6 and 1 blobs
  }
  ASSERT_EQ(Count(FileType::kPack), 3u);
  // The pack of the last blob is lost.
  std::string lost;
  {
    auto repo = MustOpen(test::kPassword, cache);
    lost = (*Blobs(*repo)->Find(ids[12]))->pack.Hex();
  }
  ASSERT_TRUE(storage_.Delete({FileType::kPack, lost}).ok());
  {
    auto other = MustOpen();
    auto report = other->RepairIndex();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->blobs_indexed, 12u);
    EXPECT_EQ(report->index_files_removed, 1u);
  }
  std::vector<std::string> warnings;
  auto repo = OpenWarned(storage_, cache, &warnings);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(GetCode(*repo, ids[i]), StatusCode::kOk) << i;
  EXPECT_EQ(GetCode(*repo, ids[12]), StatusCode::kNotFound);
  EXPECT_TRUE(warnings.empty()) << "the cache was rebuilt: " << warnings[0];
}

// A repair whose new index files do not all get written (a crash, a full disk between them):
// the old files stay in force until the last new one is durable, so every blob is still found,
// by a fresh cache too, and the next repair finishes the job.
TEST_F(RepositoryTest, ARepairInterruptedBetweenItsIndexFilesLosesNoEntry) {
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen();
    BlobStore* s = Blobs(*repo);
    // More entries than one index file takes, so that the repair writes several.
    for (uint32_t i = 0; i < BlobStore::kIndexFileEntries + 5000; ++i) {
      Bytes b(16);
      for (int j = 0; j < 4; ++j) b[j] = static_cast<uint8_t>(i >> (8 * j));
      Result<PutResult> p = s->Put(BlobType::kData, b);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ids.push_back(p->id);
    }
    ASSERT_TRUE(s->Flush().ok());
  }
  for (uint64_t n = 1; n <= 2; ++n) {
    SCOPED_TRACE("index file write " + std::to_string(n) + " fails");
    {
      test::FaultyBackend faulty(storage_);
      faulty.FailNthWrite(n);
      auto repo = Repository::Open(test::Borrow(faulty), Password(test::kPassword), FreshCache());
      ASSERT_TRUE(repo.ok());
      ASSERT_FALSE((*repo)->RepairIndex().ok());
    }
    auto fresh = MustOpen();
    std::vector<std::optional<BlobLocation>> found;
    ASSERT_TRUE(Blobs(*fresh)->FindMany(ids, &found).ok());
    size_t missing = 0;
    for (const auto& f : found) missing += !f;
    EXPECT_EQ(missing, 0u);
  }
  auto repo = MustOpen();
  ASSERT_TRUE(repo->RepairIndex().ok());
  std::vector<std::optional<BlobLocation>> found;
  ASSERT_TRUE(Blobs(*MustOpen())->FindMany(ids, &found).ok());
  for (const auto& f : found) ASSERT_TRUE(f);
}

// A long-running process (the mount, say) opened before another one wrote: a read that misses
// merges the index files written since, with a cache of its own or as the cache's secondary.
TEST_F(RepositoryTest, AReadThatMissesMergesIndexFilesWrittenSinceOpening) {
  const std::string cache = FreshCache();
  Init();
  auto reader = MustOpen(test::kPassword, cache);
  PutBig(*reader, 0, 1);  // its cache is open and up to date
  auto writer = MustOpen();
  for (const Id& id : PutBig(*writer, 50, 2)) EXPECT_EQ(GetCode(*reader, id), StatusCode::kOk);
  const std::vector<Id> more = PutBig(*writer, 60, 2);
  std::vector<std::optional<BlobLocation>> found;
  ASSERT_TRUE(Blobs(*reader)->FindMany(more, &found).ok());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_TRUE(found[0] && found[1]);

  auto secondary = MustOpen(test::kPassword, cache);  // `reader` holds the cache
  ASSERT_NE(Blobs(*secondary), nullptr);
  ASSERT_TRUE(secondary->index_cache_shared());
  for (const Id& id : PutBig(*reader, 70, 2)) EXPECT_EQ(GetCode(*secondary, id), StatusCode::kOk);
  EXPECT_EQ(GetCode(*reader, Id()), StatusCode::kNotFound) << "an id nobody stored";
}

// Runs `replace` (once) right after the first listing of index files: another process replacing
// them between this one's listing and its reads.
class ReplaceAfterListing final : public Backend {
 public:
  ReplaceAfterListing(Backend& base, std::function<void()> replace)
      : base_(base), replace_(std::move(replace)) {}
  std::string Location() const override { return base_.Location(); }
  Result<std::vector<FileInfo>> List(FileType type) override {
    auto listed = base_.List(type);
    if (type == FileType::kIndex && replace_) std::exchange(replace_, nullptr)();
    return listed;
  }
  Result<FileInfo> Stat(const FileHandle& h) override { return base_.Stat(h); }
  Result<Bytes> Read(const FileHandle& h, uint64_t offset, uint64_t length) override {
    return base_.Read(h, offset, length);
  }
  Status Write(const FileHandle& h, ByteSpan data) override { return base_.Write(h, data); }
  Status Delete(const FileHandle& h) override { return base_.Delete(h); }

 private:
  Backend& base_;
  std::function<void()> replace_;
};

TEST_F(RepositoryTest, AnIndexFileThatVanishesAfterListingIsSkippedAndTheListingRetried) {
  auto made = Init();
  const std::vector<Id> ids = PutBig(*made, 0, 3);
  const std::vector<FileInfo> before = *storage_.List(FileType::kIndex);
  ASSERT_EQ(before.size(), 1u);
  const FileHandle old{FileType::kIndex, before[0].name};
  const Bytes bytes = *storage_.Read(old, 0, Backend::kToEnd);
  auto entries = DecodeIndexFile(made->keys().enc_key, bytes, "index");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  // The same entries in a new file (a new nonce, so a new name), as `repair index` writes them.
  const Bytes replacement = EncodeIndexFile(made->keys().enc_key, entries->entries);
  ReplaceAfterListing racing(storage_, [&] {
    ASSERT_TRUE(storage_.Write({FileType::kIndex, PlainHash(replacement).Hex()}, replacement).ok());
    ASSERT_TRUE(storage_.Delete(old).ok());
  });
  auto repo = Repository::Open(test::Borrow(racing), Password(test::kPassword), FreshCache());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  for (const Id& id : ids) EXPECT_EQ(GetCode(**repo, id), StatusCode::kOk);
}

TEST_F(RepositoryTest, DamagedIndexFileIsReportedWithAHint) {
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen();
    ids = PutBig(*repo, 0, 1);
  }
  const FileInfo f = storage_.List(FileType::kIndex)->at(0);
  ASSERT_TRUE(test::FlipStoredByte(storage_, {FileType::kIndex, f.name},
                                   *storage_.Stat({FileType::kIndex, f.name})->size / 2)
                  .ok());
  auto repo = MustOpen();
  Result<BlobStore*> s = repo->blobs();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("repair index"), std::string::npos) << s.status().message();
  // Following the hint fixes it.
  auto report = repo->RepairIndex();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->blobs_indexed, 1u);
  EXPECT_EQ(report->index_files_removed, 1u);
  EXPECT_EQ(GetCode(*repo, ids[0]), StatusCode::kOk);
  EXPECT_EQ(GetCode(*MustOpen(), ids[0]), StatusCode::kOk);
}

// For `repo check` (TolerateDamagedIndex) a damaged index file is skipped with one warning
// naming it and the fix, and the rest stays readable; its blobs count as missing.
TEST_F(RepositoryTest, ToleratedDamagedIndexFileIsSkippedWithOneWarning) {
  Init();
  std::vector<Id> ids;
  {
    auto repo = MustOpen();
    ids = PutBig(*repo, 0, 1);
  }
  const FileInfo f = storage_.List(FileType::kIndex)->at(0);
  ASSERT_TRUE(test::FlipStoredByte(storage_, {FileType::kIndex, f.name},
                                   *storage_.Stat({FileType::kIndex, f.name})->size / 2)
                  .ok());
  std::vector<std::string> warnings;
  auto opened = Repository::Open(test::Borrow(storage_), Password(test::kPassword), FreshCache(),
                                 [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto& repo = *opened;
  repo->TolerateDamagedIndex();
  Result<BlobStore*> s = repo->blobs();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(Id::ParseHex(f.name)->ShortHex()), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("repair index"), std::string::npos) << warnings[0];
  EXPECT_EQ(GetCode(*repo, ids[0]), StatusCode::kNotFound);
  ASSERT_TRUE(repo->RefreshIndex().ok());
  EXPECT_EQ(warnings.size(), 1u);  // once per file, however often the index is re-read
}

}  // namespace
}  // namespace repo
