// `repo check` end to end, as an operator's weekly cron job runs it (USE-CASES.md job 6): exit 0
// and "no errors were found" on a clean repository; exit 13 when data is lost, naming the
// snapshot and the file, in text and in the --json summary that monitoring reads; and no error
// while two snapshots and a loop of 16 MiB --stdin writes run beside it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::JsonValue;
using test::ReadFile;
using test::RepoCli;
using test::RunResult;
using test::WriteFile;

class CheckCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cli_.Init().exit_code, 0);
    std::filesystem::create_directories(src_);
    WriteFile(src_ + "/notes.txt", "some notes\n");
    RunResult r = cli_.Run({"snapshot", src_, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    snapshot_ = RepoCli::Summary(r)["snapshot_id"].Str();
  }

  test::TempDir dir_;
  const std::string src_ = dir_.Sub("src");
  RepoCli cli_{REPO_BINARY, dir_.path()};
  std::string snapshot_;
};

TEST_F(CheckCliTest, CleanRepositoryExitsZero) {
  RunResult r = cli_.Run({"check"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("no errors were found"), std::string::npos) << r.out;
  r = cli_.Run({"check", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto v = JsonValue::Parse(r.out);
  ASSERT_TRUE(v) << r.out;
  EXPECT_TRUE((*v)["ok"].Bool());
  EXPECT_EQ((*v)["snapshots"].Int(), 1);
  EXPECT_EQ((*v)["errors"].size(), 0u);
}

TEST_F(CheckCliTest, LostPackExits13NamingSnapshotAndFile) {
  // One snapshot of one small file: its data and trees share the only pack.
  for (const std::string& p : cli_.FilesIn("data")) {
    std::filesystem::remove(cli_.repo() + "/data/" + p);
  }
  RunResult r = cli_.Run({"check"});
  EXPECT_EQ(r.exit_code, 13) << r.out << r.err;
  EXPECT_NE(r.out.find("error: pack "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("snapshot " + snapshot_.substr(0, 8)), std::string::npos) << r.out;
  r = cli_.Run({"check", "--json"});
  EXPECT_EQ(r.exit_code, 13) << r.err;
  auto v = JsonValue::Parse(r.out);
  ASSERT_TRUE(v) << r.out;
  EXPECT_FALSE((*v)["ok"].Bool());
  ASSERT_EQ((*v)["damaged_snapshots"].size(), 1u);
  EXPECT_EQ((*v)["damaged_snapshots"][0]["id"].Str(), snapshot_);
}

std::string RandomText(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_F(CheckCliTest, ChecksBesideRunningWritersReportNoError) {
  // Two trees of 24 MiB for two snapshot loops (a new file each round, so each writes packs),
  // and a loop of 16 MiB --stdin snapshots.
  for (int t = 0; t < 2; ++t) {
    const std::string tree = dir_.Sub("tree" + std::to_string(t));
    std::filesystem::create_directories(tree);
    for (int f = 0; f < 6; ++f) {
      WriteFile(tree + "/f" + std::to_string(f), RandomText(4 << 20, t * 100 + f));
    }
  }
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> failures;
  int writes = 0;
  auto record = [&](const RunResult& r, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.exit_code != 0)
      failures.push_back(what + ": exit " + std::to_string(r.exit_code) + ": " + r.err);
    ++writes;
  };
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      const std::string tree = dir_.Sub("tree" + std::to_string(t));
      for (int round = 0; !stop; ++round) {
        WriteFile(tree + "/new" + std::to_string(round), RandomText(2 << 20, 1000 * t + round));
        record(cli_.Run({"snapshot", tree, "--no-progress"}),
               "snapshot of tree" + std::to_string(t));
      }
    });
  }
  writers.emplace_back([&] {
    for (int round = 0; !stop; ++round) {
      record(cli_.Run({"snapshot", "--stdin", "--stdin-filename", "stream.bin", "--no-progress"},
                      RandomText(16 << 20, 5000 + round)),
             "snapshot --stdin");
    }
  });
  // Checks until every writer has finished two rounds or more (each check overlaps writes).
  auto written = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return writes;
  };
  for (int i = 0; i < 200 && (i < 6 || written() < 6); ++i) {
    RunResult r = cli_.Run({"check", "--no-progress"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out.find("error:"), std::string::npos) << r.out;
  }
  stop = true;
  for (std::thread& t : writers) t.join();
  EXPECT_TRUE(failures.empty()) << failures[0];
  EXPECT_GE(writes, 6);
  RunResult r = cli_.Run({"check", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// The damaged file of DamagedContentIsNamedByCheckRestoreAndDump's repository, repaired: a new
// snapshot (tagged "repaired") whose file is cut at its first lost byte restores and verifies
// clean; --dry-run writes nothing; a second run does not repair the original twice; --forget
// removes it.
TEST_F(CheckCliTest, RepairSnapshotsCutsWhatIsLost) {
  const std::string big = RandomText(3 << 20, 43);
  WriteFile(src_ + "/big.bin", big);
  RunResult taken = cli_.Run({"snapshot", src_, "--json"});
  ASSERT_EQ(taken.exit_code, 0) << taken.err;
  const std::string original = RepoCli::Summary(taken)["snapshot_id"].Str();
  for (const std::string& p : cli_.FilesIn("data")) {
    const std::string path = cli_.repo() + "/data/" + p;
    std::string bytes = test::ReadFile(path);
    if (bytes.size() < (2 << 20)) continue;
    bytes[bytes.size() / 2] ^= 0x55;
    std::filesystem::remove(path);
    WriteFile(path, bytes);
  }
  const size_t before = cli_.Snapshots().size();  // the fixture's and this one
  RunResult r = cli_.Run({"repair", "snapshots", "--read-data", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("would be repaired"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(src_ + "/big.bin: truncated to "), std::string::npos) << r.out;
  EXPECT_EQ(cli_.Snapshots().size(), before);

  r = cli_.Run({"repair", "snapshots", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("repaired as "), std::string::npos) << r.out;
  const JsonValue all = cli_.Snapshots({"--tag", "repaired"});
  ASSERT_EQ(all.size(), 1u);
  const std::string repaired = all[0]["id"].Str();
  EXPECT_EQ(all[0]["original"].Str(), original);
  const std::string dumped = cli_.Run({"dump", original, src_ + "/big.bin"}).err;
  ASSERT_NE(dumped.find("from offset "), std::string::npos) << dumped;
  const size_t cut = std::stoull(dumped.substr(dumped.find("from offset ") + 12));

  const std::string target = dir_.Sub("repaired");
  r = cli_.Run({"restore", repaired, "--target", target, "--verify"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(target + src_ + "/big.bin"), big.substr(0, cut));
  EXPECT_EQ(ReadFile(target + src_ + "/notes.txt"), "some notes\n");

  r = cli_.Run({"repair", "snapshots", "--read-data"});  // the original was repaired already
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("was repaired before"), std::string::npos) << r.out;
  EXPECT_EQ(cli_.Snapshots().size(), before + 1);
  r = cli_.Run({"repair", "snapshots", "--read-data", "--forget"});  // now the original goes
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const JsonValue left = cli_.Snapshots();
  ASSERT_EQ(left.size(), before);
  for (size_t i = 0; i < left.size(); ++i) EXPECT_NE(left[i]["id"].Str(), original);
}

// Applies `damage` to the bytes of every pack of at least 2 MiB (those holding big files' pieces,
// not the fixture's small first pack).
void DamageBigPacks(RepoCli& cli, const std::function<void(std::string&)>& damage) {
  for (const std::string& p : cli.FilesIn("data")) {
    const std::string path = cli.repo() + "/data/" + p;
    std::string bytes = test::ReadFile(path);
    if (bytes.size() < (2 << 20)) continue;
    damage(bytes);
    std::filesystem::remove(path);
    WriteFile(path, bytes);
  }
}

// A pack whose header no longer opens but whose blobs are sound: repair packs finds its blobs
// through the index, copies them all into a new pack, and nothing is lost.
TEST_F(CheckCliTest, RepairPacksSalvagesAPackWhoseHeaderIsDamaged) {
  const std::string big = RandomText(3 << 20, 44);
  WriteFile(src_ + "/big.bin", big);
  ASSERT_EQ(cli_.Run({"snapshot", src_}).exit_code, 0);
  DamageBigPacks(cli_, [](std::string& b) { b[b.size() - 40] ^= 0x55; });  // in the header
  RunResult r = cli_.Run({"check", "--json"});
  EXPECT_EQ(r.exit_code, 13) << r.out;
  auto damaged = JsonValue::Parse(r.out);
  ASSERT_TRUE(damaged) << r.out;
  EXPECT_EQ((*damaged)["damaged_packs"].size(), 1u) << r.out;  // what repair packs takes
  const auto packs = cli_.FilesIn("data");

  r = cli_.Run({"repair", "packs", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("header unreadable"), std::string::npos) << r.out;
  EXPECT_EQ(cli_.FilesIn("data"), packs);  // nothing written

  r = cli_.Run({"repair", "packs", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto v = JsonValue::Parse(r.out);
  ASSERT_TRUE(v) << r.out;
  ASSERT_GE((*v)["packs"].size(), 1u);
  EXPECT_EQ((*v)["packs"][0]["salvaged"].Int(), (*v)["packs"][0]["blobs"].Int());
  EXPECT_EQ((*v)["lost_blobs"].Int(), 0);
  r = cli_.Run({"check", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string target = dir_.Sub("restored");
  r = cli_.Run({"restore", "latest", "--target", target, "--verify"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(target + src_ + "/big.bin"), big);
}

// A pack with a damaged header and a damaged blob: everything else in it is salvaged, the file
// that lost the blob is named (by repair packs, then by check and restore), the other file
// restores identical, and repair snapshots then leaves a repository that checks clean.
TEST_F(CheckCliTest, RepairPacksSalvagesWhatIsReadableAndNamesTheFileThatLostData) {
  const std::string one = RandomText(3 << 20, 45), two = RandomText(3 << 20, 46);
  WriteFile(src_ + "/one.bin", one);
  WriteFile(src_ + "/two.bin", two);
  ASSERT_EQ(cli_.Run({"snapshot", src_}).exit_code, 0);
  DamageBigPacks(cli_, [](std::string& b) {
    b[b.size() / 3] ^= 0x55;   // one blob
    b[b.size() - 40] ^= 0x55;  // the header
  });
  RunResult r = cli_.Run({"repair", "packs"});
  EXPECT_EQ(r.exit_code, 13) << r.out << r.err;
  EXPECT_NE(r.out.find(" lost (first: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lost data in 1 path:"), std::string::npos) << r.out;
  const bool one_lost = r.out.find(src_ + "/one.bin: 1 piece lost") != std::string::npos;
  EXPECT_TRUE(one_lost || r.out.find(src_ + "/two.bin: 1 piece lost") != std::string::npos)
      << r.out;
  const std::string damaged = one_lost ? "one.bin" : "two.bin";
  const std::string sound = one_lost ? "two.bin" : "one.bin";

  r = cli_.Run({"check", "--read-data"});  // only the lost blob, nothing else
  EXPECT_EQ(r.exit_code, 13) << r.out;
  EXPECT_NE(r.out.find("1 error found"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(src_ + "/" + damaged + ": 1 piece lost"), std::string::npos) << r.out;
  const std::string target = dir_.Sub("restored");
  r = cli_.Run({"restore", "latest", "--target", target, "--verify"});
  EXPECT_EQ(r.exit_code, 13) << r.err;
  EXPECT_NE(r.err.find("damaged: " + target + src_ + "/" + damaged), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(target + src_ + "/" + sound), one_lost ? two : one);

  r = cli_.Run({"repair", "packs"});  // nothing left to salvage
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("no damaged pack found"), std::string::npos) << r.out;
  ASSERT_EQ(cli_.Run({"repair", "snapshots", "--forget"}).exit_code, 0);
  r = cli_.Run({"check", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// One damaged byte in the middle of a file's content: check --read-data names the file; restore
// restores everything, names the file and its lost bytes, and exits 13; dump of the file fails
// naming the offset from which its content is lost; the other file is intact.
TEST_F(CheckCliTest, DamagedContentIsNamedByCheckRestoreAndDump) {
  const std::string big = RandomText(3 << 20, 42);
  WriteFile(src_ + "/big.bin", big);
  RunResult r = cli_.Run({"snapshot", src_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every pack written by this snapshot: the 3 MiB of big.bin are most of it; flip a byte in the
  // middle of each.
  for (const std::string& p : cli_.FilesIn("data")) {
    const std::string path = cli_.repo() + "/data/" + p;
    std::string bytes = test::ReadFile(path);
    if (bytes.size() < (2 << 20)) continue;  // the first snapshot's small pack
    bytes[bytes.size() / 2] ^= 0x55;
    std::filesystem::remove(path);
    WriteFile(path, bytes);
  }
  r = cli_.Run({"check", "--read-data"});
  EXPECT_EQ(r.exit_code, 13) << r.out << r.err;
  EXPECT_NE(r.out.find(src_ + "/big.bin: 1 piece lost"), std::string::npos) << r.out;

  const std::string target = dir_.Sub("restored");
  r = cli_.Run({"restore", "latest", "--target", target, "--verify"});
  EXPECT_EQ(r.exit_code, 13) << r.out << r.err;
  EXPECT_NE(r.err.find("damaged: " + target + src_ + "/big.bin: bytes "), std::string::npos)
      << r.err;
  EXPECT_EQ(test::ReadFile(target + src_ + "/notes.txt"), "some notes\n");
  EXPECT_EQ(test::ReadFile(target + src_ + "/big.bin").size(), big.size());

  r = cli_.Run({"dump", "latest", src_ + "/big.bin"});
  EXPECT_EQ(r.exit_code, 13) << r.err;
  EXPECT_NE(r.err.find("content lost from offset "), std::string::npos) << r.err;
  const size_t offset = std::stoull(r.err.substr(r.err.find("from offset ") + 12));
  EXPECT_EQ(r.out.size(), offset);
  EXPECT_EQ(r.out, big.substr(0, offset));
}

}  // namespace
}  // namespace repo
