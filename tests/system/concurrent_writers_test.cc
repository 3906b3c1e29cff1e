// Two processes write one repository at the same time, sharing one index cache directory (as a
// nightly snapshot and wal-push do on one host): neither fails or waits for the other, and
// afterwards a third process with a fresh cache finds and verifies every blob both stored; two
// `repo snapshot`s of overlapping data at once, then a third that finds all of it stored.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "repo/storage/local_backend.h"
#include "repo/store/repository.h"
#include "tests/support/repo_cli.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::RunProgram;
using test::RunResult;
using test::TempDir;

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ConcurrentWritersTest, TwoProcessesShareOneRepositoryAndCache) {
  TempDir dir;
  test::WriteFile(dir.Sub("pw"), "pw\n");
  std::filesystem::create_directories(dir.Sub("barrier"));
  {
    InitOptions opts;
    opts.kdf = {1, 8192};
    opts.pack_size = 1 << 20;  // several packs per writer
    auto repo = Repository::Init(LocalBackend::Create(dir.Sub("repo")).value(),
                                 SecretBytes::CopyOf(AsBytes("pw")), opts, dir.Sub("cache"));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  }
  RunResult results[2];
  std::thread writers[2];
  for (int w = 0; w < 2; ++w) {
    writers[w] = std::thread([&, w] {
      results[w] = RunProgram(BLOB_WRITER, {dir.Sub("repo"), dir.Sub("pw"), dir.Sub("cache"),
                                            std::to_string(w + 1), "200", dir.Sub("barrier")});
    });
  }
  for (auto& t : writers) t.join();

  std::set<std::string> modes, ids;
  for (const RunResult& r : results) {
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = SplitLines(r.out);
    ASSERT_EQ(lines.size(), 201u);
    modes.insert(lines[0]);
    ids.insert(lines.begin() + 1, lines.end());
  }
  // Both held the cache at once: one as primary, the other as a secondary.
  EXPECT_EQ(modes, (std::set<std::string>{"primary", "shared"}));
  EXPECT_EQ(ids.size(), 300u);  // 100 shared + 2 x 100 own

  auto repo = Repository::Open(LocalBackend::Open(dir.Sub("repo")).value(),
                               SecretBytes::CopyOf(AsBytes("pw")), dir.Sub("fresh-cache"));
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto store = (*repo)->blobs();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (const std::string& hex : ids) {
    auto got = (*store)->Get(BlobType::kData, *Id::ParseHex(hex));
    ASSERT_TRUE(got.ok()) << hex << ": " << got.status().ToString();
    EXPECT_EQ(got->size(), 20u << 10);
  }
  // And the shared cache directory, reopened now that nobody holds it, knows them too.
  auto again = Repository::Open(LocalBackend::Open(dir.Sub("repo")).value(),
                                SecretBytes::CopyOf(AsBytes("pw")), dir.Sub("cache"));
  ASSERT_TRUE(again.ok());
  auto store2 = (*again)->blobs();
  ASSERT_TRUE(store2.ok()) << store2.status().ToString();
  for (const std::string& hex : ids) {
    auto loc = (*store2)->Find(*Id::ParseHex(hex));
    ASSERT_TRUE(loc.ok() && loc->has_value()) << hex;
  }
}

// Two hosts' nightly jobs (or a snapshot and a manual one) back up overlapping data at the same
// moment, with one cache directory: one process is the cache's primary, the other its secondary.
// A third snapshot of all the data afterwards finds every chunk stored by one or the other.
TEST(ConcurrentWritersTest, TwoSnapshotsAtOnceThenAThirdOfTheirDataAddsNoData) {
  TempDir dir;
  test::RepoCli cli(REPO_BINARY, dir.path());
  ASSERT_EQ(cli.Init().exit_code, 0);
  const std::string src = dir.Sub("src");
  std::filesystem::create_directories(src + "/common");
  std::filesystem::create_directories(src + "/a");
  std::filesystem::create_directories(src + "/b");
  auto random = [](size_t n, uint64_t seed) {
    std::string s(n, '\0');
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (char& c : s) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = static_cast<char>(x);
    }
    return s;
  };
  for (int i = 0; i < 8; ++i) {
    test::WriteFile(src + "/common/" + std::to_string(i), random(8 << 20, i));
  }
  test::WriteFile(src + "/a/own", random(4 << 20, 100));
  test::WriteFile(src + "/b/own", random(4 << 20, 200));

  RunResult runs[2];
  std::thread snapshots[2];
  for (int w = 0; w < 2; ++w) {
    snapshots[w] = std::thread([&, w] {
      runs[w] = cli.Run({"snapshot", "--json", src + "/common", src + (w == 0 ? "/a" : "/b")});
    });
  }
  for (auto& t : snapshots) t.join();
  for (const RunResult& r : runs) ASSERT_EQ(r.exit_code, 0) << r.err;

  RunResult third = cli.Run({"snapshot", "--json", src});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  test::JsonValue summary = test::RepoCli::Summary(third);
  ASSERT_TRUE(summary.is_object()) << third.out;
  EXPECT_EQ(summary["bytes_read"].Int(), (64 + 8) << 20);
  EXPECT_EQ(summary["data_blobs"].Int(), 0) << "a chunk one of the two stored was stored again";
  EXPECT_LT(summary["bytes_added"].Int(), 64 << 10) << "more than the new directories' listings";
}

}  // namespace
}  // namespace repo
