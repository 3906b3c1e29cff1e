// IdSorter (repo/maintenance/id_sorter.h): ids come back ascending and unique, whether they fit in
// memory or were spilled to many runs, and whatever the size of the pieces they are read in.
#include "repo/maintenance/id_sorter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace repo {
namespace {

Id RandomId(std::mt19937_64& rng) {
  uint8_t b[Id::kSize];
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return Id::FromSpan(ByteSpan(b, sizeof b));
}

// Adds `n` random ids, each twice (once more in a later run), and reads them back `piece` at a
// time.
void RoundTrip(size_t memory_ids, size_t n, size_t piece) {
  SCOPED_TRACE("memory " + std::to_string(memory_ids) + ", n " + std::to_string(n) + ", piece " +
               std::to_string(piece));
  std::mt19937_64 rng(n * 31 + memory_ids);
  std::vector<Id> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(RandomId(rng));
  IdSorter sorter(memory_ids);
  for (const Id& id : ids) ASSERT_TRUE(sorter.Add(id).ok());
  for (size_t i = ids.size(); i-- > 0;) ASSERT_TRUE(sorter.Add(ids[i]).ok());
  EXPECT_EQ(sorter.added(), 2 * n);
  std::vector<Id> got, chunk;
  for (;;) {
    auto more = sorter.Next(piece, &chunk);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    ASSERT_LE(chunk.size(), piece);
    got.insert(got.end(), chunk.begin(), chunk.end());
  }
  std::set<Id> want(ids.begin(), ids.end());
  EXPECT_EQ(got, std::vector<Id>(want.begin(), want.end()));
  // The bound the progress line uses: exact in memory, never below the truth.
  if (memory_ids >= 2 * n) EXPECT_EQ(sorter.unique_bound(), want.size());
  EXPECT_GE(sorter.unique_bound(), want.size());
  EXPECT_LE(sorter.unique_bound(), 2 * n);
}

TEST(IdSorterTest, InMemory) { RoundTrip(1 << 20, 1000, 64); }
TEST(IdSorterTest, SpilledToManyRuns) { RoundTrip(100, 5000, 333); }
TEST(IdSorterTest, OneIdPerRun) { RoundTrip(1, 50, 7); }
TEST(IdSorterTest, Empty) { RoundTrip(10, 0, 5); }

}  // namespace
}  // namespace repo
