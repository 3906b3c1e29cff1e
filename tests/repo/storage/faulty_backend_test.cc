// The fault-injection decorator other tests rely on: its faults fire exactly where armed and leave
// the underlying storage untouched.
#include "tests/support/faulty_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "repo/storage/memory_backend.h"

namespace repo {
namespace {

using test::BackendOpCounts;
using test::FaultyBackend;

FileHandle Pack(int i) {
  std::string name(64, '0');
  name.replace(60, 4, std::to_string(1000 + i));
  return {FileType::kPack, name};
}
FileHandle Index(int i) { return {FileType::kIndex, Pack(i).name}; }

TEST(FaultyBackendTest, PassesEverythingThroughWhenNoFaultIsArmed) {
  MemoryBackend base;
  FaultyBackend faulty(base);
  ASSERT_TRUE(faulty.Write(Pack(1), AsBytes("abc")).ok());
  EXPECT_EQ(AsChars(*faulty.Read(Pack(1), 1, 2)), "bc");
  EXPECT_EQ(faulty.Stat(Pack(1))->size, 3u);
  EXPECT_EQ(faulty.List(FileType::kPack)->size(), 1u);
  EXPECT_EQ(faulty.Write(Pack(1), AsBytes("x")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(faulty.Delete(Pack(1)).ok());
  EXPECT_EQ(base.Stat(Pack(1)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(faulty.Location(), "faulty:memory");
}

TEST(FaultyBackendTest, FailsOnlyTheNthWriteAndWritesNothing) {
  MemoryBackend base;
  FaultyBackend faulty(base);
  ASSERT_TRUE(faulty.Write(Pack(0), AsBytes("before")).ok());  // not counted: armed later
  faulty.FailNthWrite(3);
  EXPECT_TRUE(faulty.Write(Pack(1), AsBytes("1")).ok());
  EXPECT_TRUE(faulty.Write(Index(2), AsBytes("2")).ok());
  Status third = faulty.Write(Pack(3), AsBytes("3"));
  EXPECT_EQ(third.code(), StatusCode::kIOError);
  EXPECT_NE(third.message().find("injected"), std::string::npos) << third.message();
  EXPECT_EQ(base.Stat(Pack(3)).status().code(), StatusCode::kNotFound);
  // Spent: the same write now goes through, as do later ones.
  EXPECT_TRUE(faulty.Write(Pack(3), AsBytes("3")).ok());
  EXPECT_TRUE(faulty.Write(Pack(4), AsBytes("4")).ok());
  EXPECT_EQ(faulty.counts().writes, 6u);
  EXPECT_EQ(faulty.counts().injected_failures, 1u);
}

TEST(FaultyBackendTest, FailsEveryWriteOfATypeAfterAPoint) {
  MemoryBackend base;
  FaultyBackend faulty(base);
  faulty.FailWritesOf(FileType::kIndex, /*after=*/2);
  EXPECT_TRUE(faulty.Write(Index(1), AsBytes("1")).ok());
  EXPECT_TRUE(faulty.Write(Pack(1), AsBytes("p")).ok());
  EXPECT_TRUE(faulty.Write(Index(2), AsBytes("2")).ok());
  for (int i = 3; i < 6; ++i) {
    EXPECT_EQ(faulty.Write(Index(i), AsBytes("n")).code(), StatusCode::kIOError) << i;
    EXPECT_TRUE(faulty.Write(Pack(i), AsBytes("p")).ok()) << i;
  }
  EXPECT_EQ(base.List(FileType::kIndex)->size(), 2u);
  EXPECT_EQ(base.List(FileType::kPack)->size(), 4u);
  EXPECT_EQ(faulty.WritesOf(FileType::kIndex), 5u);
  EXPECT_EQ(faulty.WritesOf(FileType::kPack), 4u);

  faulty.ClearFaults();
  EXPECT_TRUE(faulty.Write(Index(9), AsBytes("n")).ok());
}

TEST(FaultyBackendTest, FailsReadsOfAllOrOneType) {
  MemoryBackend base;
  FaultyBackend faulty(base);
  ASSERT_TRUE(faulty.Write(Pack(1), AsBytes("p")).ok());
  ASSERT_TRUE(faulty.Write(Index(1), AsBytes("i")).ok());

  faulty.FailReads(FileType::kPack);
  EXPECT_EQ(faulty.Read(Pack(1), 0, Backend::kToEnd).status().code(), StatusCode::kIOError);
  EXPECT_TRUE(faulty.Read(Index(1), 0, Backend::kToEnd).ok());
  EXPECT_TRUE(faulty.Stat(Pack(1)).ok());  // only reads fail

  faulty.FailReads();
  EXPECT_EQ(faulty.Read(Index(1), 0, Backend::kToEnd).status().code(), StatusCode::kIOError);

  faulty.ClearFaults();
  EXPECT_TRUE(faulty.Read(Pack(1), 0, Backend::kToEnd).ok());
  BackendOpCounts c = faulty.counts();
  EXPECT_EQ(c.reads, 4u);
  EXPECT_EQ(c.injected_failures, 2u);
  EXPECT_EQ(c.stats, 1u);
}

TEST(FaultyBackendTest, CountsEveryOperation) {
  MemoryBackend base;
  FaultyBackend faulty(base);
  ASSERT_TRUE(faulty.Write(Pack(1), AsBytes("p")).ok());
  (void)faulty.List(FileType::kPack);
  (void)faulty.List(FileType::kIndex);
  (void)faulty.Stat(Pack(1));
  (void)faulty.Read(Pack(2), 0, Backend::kToEnd);  // NotFound still counts
  ASSERT_TRUE(faulty.Delete(Pack(1)).ok());
  BackendOpCounts c = faulty.counts();
  EXPECT_EQ(c.writes, 1u);
  EXPECT_EQ(c.lists, 2u);
  EXPECT_EQ(c.stats, 1u);
  EXPECT_EQ(c.reads, 1u);
  EXPECT_EQ(c.deletes, 1u);
  EXPECT_EQ(c.injected_failures, 0u);
}

TEST(FaultyBackendTest, NthWriteFailsExactlyOnceUnderConcurrency) {
  MemoryBackend base;
  FaultyBackend faulty(base);
  faulty.FailNthWrite(17);
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (!faulty.Write(Pack(t * 100 + i), AsBytes("x")).ok()) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(base.List(FileType::kPack)->size(), 39u);
  EXPECT_EQ(faulty.counts().writes, 40u);
}

}  // namespace
}  // namespace repo
