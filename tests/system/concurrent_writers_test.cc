// Two processes write one repository at the same time, sharing one index cache directory (as a
// nightly snapshot and wal-push do on one host): neither fails or waits for the other, and
// afterwards a third process with a fresh cache finds and verifies every blob both stored.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "repo/storage/local_backend.h"
#include "repo/store/repository.h"
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

}  // namespace
}  // namespace repo
