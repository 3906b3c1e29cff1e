// One conformance suite for the Backend contract (repo/storage/backend.h), run against every
// implementation (after restic internal/backend/test/suite.go), plus what only LocalBackend does.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "repo/storage/backend.h"
#include "repo/storage/local_backend.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::RandomBytes;
using test::TempDir;

struct BackendKind {
  std::string name;
  // Makes an empty backend; `dir` is an empty directory it may use.
  std::function<std::unique_ptr<Backend>(const std::string& dir)> make;
};

// gtest prints the parameter in test descriptions; the name says it all.
void PrintTo(const BackendKind& kind, std::ostream* os) { *os << kind.name; }

std::string Name(char c, int i = 0) {
  std::string n(64, c);
  n[63] = "0123456789abcdef"[i % 16];
  return n;
}

std::set<std::string> Names(const std::vector<FileInfo>& files) {
  std::set<std::string> out;
  for (const FileInfo& f : files) out.insert(f.name);
  return out;
}

class BackendConformanceTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make(dir_.Sub("repo"));
    ASSERT_NE(backend_, nullptr);
  }
  Backend& b() { return *backend_; }

  TempDir dir_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(BackendConformanceTest, WriteThenReadWholeAndRanges) {
  const FileHandle h{FileType::kPack, Name('a')};
  const Bytes data = RandomBytes(1000, 1);
  ASSERT_TRUE(b().Write(h, data).ok());

  Result<Bytes> all = b().Read(h);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, data);

  Result<Bytes> mid = b().Read(h, 100, 200);
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  EXPECT_EQ(*mid, Bytes(data.begin() + 100, data.begin() + 300));

  Result<Bytes> tail = b().Read(h, 900, Backend::kToEnd);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, Bytes(data.begin() + 900, data.end()));

  Result<Bytes> last = b().Read(h, 999, 1);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, Bytes{data[999]});

  Result<Bytes> none = b().Read(h, 1000, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  Result<Bytes> at_end = b().Read(h, 1000, Backend::kToEnd);
  ASSERT_TRUE(at_end.ok());
  EXPECT_TRUE(at_end->empty());

  Result<FileInfo> info = b().Stat(h);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->name, h.name);
  EXPECT_EQ(info->size, 1000u);
}

TEST_P(BackendConformanceTest, ReadIntoGivesWhatReadGivesInTheSameBuffer) {
  const FileHandle h{FileType::kPack, Name('c')};
  const Bytes data = RandomBytes(1000, 3);
  ASSERT_TRUE(b().Write(h, data).ok());
  Bytes buf;
  ASSERT_TRUE(b().ReadInto(h, 0, 1000, &buf).ok());
  EXPECT_EQ(buf, data);
  const uint8_t* memory = buf.data();
  ASSERT_TRUE(b().ReadInto(h, 100, 200, &buf).ok());  // shorter: same memory, exact size
  EXPECT_EQ(buf, Bytes(data.begin() + 100, data.begin() + 300));
  EXPECT_EQ(buf.data(), memory);
  ASSERT_TRUE(b().ReadInto(h, 0, Backend::kToEnd, &buf).ok());
  EXPECT_EQ(buf, data);
  EXPECT_EQ(b().ReadInto(h, 900, 101, &buf).code(), StatusCode::kCorruption);
  EXPECT_TRUE(b().ReadInto({FileType::kPack, Name('d')}, 0, 1, &buf).IsNotFound());
}

TEST_P(BackendConformanceTest, ReadPastEndIsCorruption) {
  const FileHandle h{FileType::kIndex, Name('b')};
  ASSERT_TRUE(b().Write(h, RandomBytes(100, 2)).ok());
  EXPECT_EQ(b().Read(h, 0, 101).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(b().Read(h, 50, 51).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(b().Read(h, 101, 0).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(b().Read(h, 101, Backend::kToEnd).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(b().Read(h, 1, UINT64_MAX - 1).status().code(), StatusCode::kCorruption);
}

TEST_P(BackendConformanceTest, MissingFileIsNotFound) {
  const FileHandle h{FileType::kSnapshot, Name('c')};
  EXPECT_EQ(b().Read(h).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b().Read(h, 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b().Stat(h).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b().Delete(h).code(), StatusCode::kNotFound);
  const FileHandle config{FileType::kConfig, ""};
  EXPECT_EQ(b().Read(config).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b().Stat(config).status().code(), StatusCode::kNotFound);
}

TEST_P(BackendConformanceTest, WriteOverExistingFileIsRefusedAndKeepsOldContent) {
  const FileHandle h{FileType::kKey, Name('d')};
  const Bytes first = RandomBytes(64, 3);
  ASSERT_TRUE(b().Write(h, first).ok());
  EXPECT_EQ(b().Write(h, RandomBytes(80, 4)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(b().Write(h, first).code(), StatusCode::kAlreadyExists);
  Result<Bytes> got = b().Read(h);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, first);
}

TEST_P(BackendConformanceTest, ListReturnsExactlyTheNamesOfThatType) {
  std::set<std::string> packs, index;
  for (int i = 0; i < 5; ++i) {
    packs.insert(Name('1', i));
    ASSERT_TRUE(b().Write({FileType::kPack, Name('1', i)}, RandomBytes(10 + i, i)).ok());
  }
  for (int i = 0; i < 3; ++i) {
    index.insert(Name('e', i));
    ASSERT_TRUE(b().Write({FileType::kIndex, Name('e', i)}, RandomBytes(20, i)).ok());
  }
  Result<std::vector<FileInfo>> listed = b().List(FileType::kPack);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), packs.size());
  EXPECT_EQ(Names(*listed), packs);
  for (const FileInfo& f : *listed) {  // a size where the listing gives one, and from Stat
    if (f.size) EXPECT_EQ(*f.size, 10u + (f.name[63] - '0')) << f.name;
    EXPECT_EQ(b().Stat({FileType::kPack, f.name})->size, 10u + (f.name[63] - '0')) << f.name;
  }

  listed = b().List(FileType::kIndex);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Names(*listed), index);
  for (FileType t : {FileType::kKey, FileType::kSnapshot, FileType::kSession, FileType::kConfig}) {
    listed = b().List(t);
    ASSERT_TRUE(listed.ok()) << FileTypeName(t);
    EXPECT_TRUE(listed->empty()) << FileTypeName(t);
  }
}

TEST_P(BackendConformanceTest, SameNameInDifferentTypesAreDifferentFiles) {
  const std::string name = Name('7');
  ASSERT_TRUE(b().Write({FileType::kSnapshot, name}, AsBytes("snapshot")).ok());
  ASSERT_TRUE(b().Write({FileType::kSession, name}, AsBytes("lock")).ok());
  EXPECT_EQ(AsChars(*b().Read({FileType::kSnapshot, name})), "snapshot");
  EXPECT_EQ(AsChars(*b().Read({FileType::kSession, name})), "lock");
  ASSERT_TRUE(b().Delete({FileType::kSession, name}).ok());
  EXPECT_TRUE(b().Stat({FileType::kSnapshot, name}).ok());
}

TEST_P(BackendConformanceTest, ConfigHandleHasNoName) {
  const FileHandle config{FileType::kConfig, ""};
  ASSERT_TRUE(b().Write(config, AsBytes("config bytes")).ok());
  Result<Bytes> got = b().Read(config);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(AsChars(*got), "config bytes");
  EXPECT_EQ(b().Stat(config)->size, 12u);
  Result<std::vector<FileInfo>> listed = b().List(FileType::kConfig);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "");
  EXPECT_EQ(b().Write(config, AsBytes("other")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(b().Delete(config).ok());
  EXPECT_TRUE(b().List(FileType::kConfig)->empty());
}

TEST_P(BackendConformanceTest, InvalidNamesAreRefusedByEveryOperation) {
  const std::vector<FileHandle> bad = {
      {FileType::kPack, std::string(64, 'A')},                               // upper case
      {FileType::kPack, std::string(63, 'a')},                               // short
      {FileType::kIndex, std::string(65, 'a')},                              // long
      {FileType::kKey, ""},                                                  // empty
      {FileType::kSnapshot, "../x"},                                         // escapes
      {FileType::kSession, "../" + std::string(61, 'a')},                    // escapes, 64 chars
      {FileType::kPack, std::string(31, 'a') + "/" + std::string(32, 'a')},  // 64 with '/'
      {FileType::kIndex, std::string(63, 'a') + "g"},                        // not hex
      {FileType::kConfig, "config"},                                         // config takes no name
      {FileType::kConfig, std::string(64, 'a')},
  };
  for (const FileHandle& h : bad) {
    SCOPED_TRACE(std::string(FileTypeName(h.type)) + " '" + h.name + "'");
    EXPECT_EQ(b().Write(h, AsBytes("x")).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(b().Read(h).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(b().Read(h, 0, 1).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(b().Stat(h).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(b().Delete(h).code(), StatusCode::kInvalidArgument);
  }
  for (FileType t : {FileType::kConfig, FileType::kKey, FileType::kPack, FileType::kIndex,
                     FileType::kSnapshot, FileType::kSession}) {
    Result<std::vector<FileInfo>> listed = b().List(t);
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->empty()) << FileTypeName(t);
  }
}

TEST_P(BackendConformanceTest, EmptyFile) {
  const FileHandle h{FileType::kSession, Name('f')};
  ASSERT_TRUE(b().Write(h, {}).ok());
  EXPECT_EQ(b().Stat(h)->size, 0u);
  Result<Bytes> got = b().Read(h);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(b().Read(h, 0, 1).status().code(), StatusCode::kCorruption);
  Result<std::vector<FileInfo>> listed = b().List(FileType::kSession);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].size.value_or(0), 0u);
}

TEST_P(BackendConformanceTest, ConcurrentWritesOfDifferentNamesAllLand) {
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::thread> threads;
  std::vector<Status> failures[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = Name('0' + t, 0);
        name.replace(60, 4, std::to_string(1000 + i));
        Status s = b().Write({FileType::kPack, name}, RandomBytes(100 + i, t * 1000 + i));
        if (!s.ok()) failures[t].push_back(s);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (const Status& s : failures[t]) ADD_FAILURE() << s.ToString();
  }
  Result<std::vector<FileInfo>> listed = b().List(FileType::kPack);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), size_t{kThreads * kPerThread});
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string name = Name('0' + t, 0);
      name.replace(60, 4, std::to_string(1000 + i));
      Result<Bytes> got = b().Read({FileType::kPack, name});
      ASSERT_TRUE(got.ok()) << name;
      EXPECT_EQ(*got, RandomBytes(100 + i, t * 1000 + i)) << name;
    }
  }
}

TEST_P(BackendConformanceTest, ConcurrentWritesOfOneNameLeaveExactlyOneWinner) {
  const FileHandle h{FileType::kSnapshot, Name('9')};
  constexpr int kThreads = 4;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = b().Write(h, RandomBytes(500, t)); });
  }
  for (auto& th : threads) th.join();
  int winners = 0, winner = -1;
  for (int t = 0; t < kThreads; ++t) {
    if (results[t].ok()) {
      ++winners;
      winner = t;
    } else {
      EXPECT_EQ(results[t].code(), StatusCode::kAlreadyExists) << results[t].ToString();
    }
  }
  ASSERT_EQ(winners, 1);
  EXPECT_EQ(*b().Read(h), RandomBytes(500, winner));
}

TEST_P(BackendConformanceTest, DeleteThenList) {
  const FileHandle keep{FileType::kIndex, Name('2')};
  const FileHandle gone{FileType::kIndex, Name('3')};
  ASSERT_TRUE(b().Write(keep, AsBytes("keep")).ok());
  ASSERT_TRUE(b().Write(gone, AsBytes("gone")).ok());
  ASSERT_TRUE(b().Delete(gone).ok());
  Result<std::vector<FileInfo>> listed = b().List(FileType::kIndex);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Names(*listed), std::set<std::string>{keep.name});
  EXPECT_EQ(b().Stat(gone).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b().Read(gone).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b().Delete(gone).code(), StatusCode::kNotFound);
  // The name is free again.
  ASSERT_TRUE(b().Write(gone, AsBytes("again")).ok());
  EXPECT_EQ(AsChars(*b().Read(gone)), "again");
}

INSTANTIATE_TEST_SUITE_P(
    AllBackends, BackendConformanceTest,
    ::testing::Values(BackendKind{"Memory",
                                  [](const std::string&) -> std::unique_ptr<Backend> {
                                    return std::make_unique<MemoryBackend>();
                                  }},
                      BackendKind{"Local",
                                  [](const std::string& dir) -> std::unique_ptr<Backend> {
                                    auto b = LocalBackend::Create(dir);
                                    EXPECT_TRUE(b.ok()) << b.status().ToString();
                                    if (!b.ok()) return nullptr;
                                    return std::move(b).value();
                                  }}),
    [](const ::testing::TestParamInfo<BackendKind>& info) { return info.param.name; });

// --- LocalBackend only -------------------------------------------------------------------------

void WriteRawFile(const std::string& path, std::string_view content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(LocalBackendTest, StrayTemporaryFilesAreNotListed) {
  TempDir dir;
  const std::string root = dir.Sub("repo");
  auto b = LocalBackend::Create(root);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const std::string name = Name('a');
  ASSERT_TRUE((*b)->Write({FileType::kPack, name}, AsBytes("pack")).ok());
  ASSERT_TRUE((*b)->Write({FileType::kIndex, name}, AsBytes("index")).ok());
  // What a crash between creating and linking a temporary would leave behind.
  WriteRawFile(root + "/data/aa/.tmp-123-0", "half a pack");
  WriteRawFile(root + "/index/.tmp-123-1", "half an index");
  WriteRawFile(root + "/index/README", "not ours either");

  Result<std::vector<FileInfo>> packs = (*b)->List(FileType::kPack);
  ASSERT_TRUE(packs.ok());
  EXPECT_EQ(Names(*packs), std::set<std::string>{name});
  Result<std::vector<FileInfo>> index = (*b)->List(FileType::kIndex);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(Names(*index), std::set<std::string>{name});
}

TEST(LocalBackendTest, PacksLandInShardOfTheirFirstTwoHexDigits) {
  TempDir dir;
  const std::string root = dir.Sub("repo");
  auto b = LocalBackend::Create(root);
  ASSERT_TRUE(b.ok());
  const std::string name = "3f" + std::string(62, '0');
  ASSERT_TRUE((*b)->Write({FileType::kPack, name}, AsBytes("pack")).ok());
  EXPECT_TRUE(Exists(root + "/data/3f/" + name));
  ASSERT_TRUE((*b)->Write({FileType::kIndex, name}, AsBytes("index")).ok());
  EXPECT_TRUE(Exists(root + "/index/" + name));
  ASSERT_TRUE((*b)->Write({FileType::kConfig, ""}, AsBytes("config")).ok());
  EXPECT_TRUE(Exists(root + "/config"));
  // No temporary is left behind by a successful write.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(root + "/data/3f")) {
    ++entries;
    EXPECT_EQ(e.path().filename().string(), name);
  }
  EXPECT_EQ(entries, 1);
}

// A repository copied by a tool that drops empty directories (git, some sync tools): the missing
// ones list as empty and are made again by the first write into them.
TEST(LocalBackendTest, MissingTypeDirectoriesListEmptyAndAreRemadeByAWrite) {
  TempDir dir;
  const std::string root = dir.Sub("repo");
  auto b = LocalBackend::Create(root);
  ASSERT_TRUE(b.ok());
  for (const char* sub : {"locks", "snapshots", "data"}) std::filesystem::remove(root + "/" + sub);
  for (FileType t : {FileType::kSession, FileType::kSnapshot, FileType::kPack}) {
    auto listed = (*b)->List(t);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    EXPECT_TRUE(listed->empty());
  }
  const std::string name = "3f" + std::string(62, '0');
  for (FileType t : {FileType::kSession, FileType::kSnapshot, FileType::kPack}) {
    ASSERT_TRUE((*b)->Write({t, name}, AsBytes("x")).ok());
    auto listed = (*b)->List(t);
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(Names(*listed), std::set<std::string>{name});
  }
}

TEST(LocalBackendTest, CreateRefusesNonEmptyDirectory) {
  TempDir dir;
  WriteRawFile(dir.Sub("something"), "x");
  auto b = LocalBackend::Create(dir.path());
  EXPECT_EQ(b.status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(Exists(dir.Sub("data")));
  // Nor does it make a repository where an old one is.
  ASSERT_TRUE(LocalBackend::Create(dir.Sub("repo")).ok());
  EXPECT_EQ(LocalBackend::Create(dir.Sub("repo")).status().code(), StatusCode::kAlreadyExists);
}

TEST(LocalBackendTest, CreateAcceptsAnExistingEmptyDirectory) {
  TempDir dir;
  auto b = LocalBackend::Create(dir.path());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(Exists(dir.Sub("keys")));
  EXPECT_TRUE(Exists(dir.Sub("data")));
}

TEST(LocalBackendTest, OpenNeedsAConfigFileOrKeys) {
  TempDir dir;
  const std::string root = dir.Sub("repo");
  EXPECT_EQ(LocalBackend::Open(root).status().code(), StatusCode::kNotFound);
  std::filesystem::create_directories(root + "/data");
  EXPECT_EQ(LocalBackend::Open(root).status().code(), StatusCode::kNotFound);
  std::filesystem::remove_all(root);
  auto b = LocalBackend::Create(root);
  ASSERT_TRUE(b.ok());
  // keys/ without a config: opened, for Repository::Open to tell a lost config from an
  // interrupted init.
  EXPECT_TRUE(LocalBackend::Open(root).ok());
  ASSERT_TRUE((*b)->Write({FileType::kConfig, ""}, AsBytes("config")).ok());
  auto opened = LocalBackend::Open(root);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(AsChars(*(*opened)->Read({FileType::kConfig, ""}, 0, Backend::kToEnd)), "config");
}

}  // namespace
}  // namespace repo
