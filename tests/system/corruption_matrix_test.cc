// Corruption matrix (issue 16): each kind of repository file (pack, index file, snapshot record,
// key, config) damaged each way (bytes flipped, truncated, deleted), with the real binary. Check
// names exactly what is affected: the damaged file, and the snapshots (and files) that lost data,
// never one that did not; the unaffected snapshot restores identical; the documented exit code
// comes with a one-line message; nothing crashes or hangs. docs/testing.md lists every row.
//
// The repository: snapshot "one" of one/ (x.bin, 2 MiB random, and y.txt), then snapshot "two" of
// two/ (z.bin and w.txt): each writes its own pack, index file and record, so damage to one's
// files must cost one only.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fs_tree.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::JsonValue;
using test::ReadFile;
using test::RepoCli;
using test::RunResult;
using test::WriteFile;

enum class Kind { kPack, kIndex, kSnapshot, kKey, kSpareKey, kConfig };
enum class Damage { kFlip, kTruncate, kDelete };

struct Row {
  Kind kind;
  Damage damage;
};

std::string Name(const Row& r) {
  static const char* kinds[] = {"Pack",    "IndexFile", "SnapshotRecord",
                                "OnlyKey", "SpareKey",  "Config"};
  static const char* damages[] = {"Flipped", "Truncated", "Deleted"};
  return std::string(kinds[static_cast<int>(r.kind)]) + damages[static_cast<int>(r.damage)];
}

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class CorruptionMatrixTest : public ::testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    ASSERT_EQ(cli_.Init().exit_code, 0);
    std::filesystem::create_directories(src_ + "/one");
    std::filesystem::create_directories(src_ + "/two");
    WriteFile(src_ + "/one/x.bin", x_);
    WriteFile(src_ + "/one/y.txt", "why\n");
    WriteFile(src_ + "/two/z.bin", z_);
    WriteFile(src_ + "/two/w.txt", "double-u\n");
    one_ = Take("one", &one_files_);
    two_ = Take("two", &two_files_);
  }

  // A snapshot of src/<dir>; the repository files it added, by directory.
  std::string Take(const std::string& dir, std::map<std::string, std::string>* added) {
    std::map<std::string, std::set<std::string>> before;
    for (const char* sub : {"data", "index", "snapshots"}) before[sub] = cli_.FilesIn(sub);
    RunResult r = cli_.Run({"snapshot", src_ + "/" + dir, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const char* sub : {"data", "index", "snapshots"}) {
      for (const std::string& f : cli_.FilesIn(sub)) {
        if (!before[sub].count(f)) {
          EXPECT_FALSE(added->count(sub)) << "one new file per kind expected in " << sub;
          (*added)[sub] = cli_.repo() + "/" + sub + "/" + f;
        }
      }
    }
    return RepoCli::Summary(r)["snapshot_id"].Str();
  }

  // The file of the repository the row damages.
  std::string Target(Kind kind) {
    switch (kind) {
      case Kind::kPack:
        return one_files_["data"];
      case Kind::kIndex:
        return one_files_["index"];
      case Kind::kSnapshot:
        return one_files_["snapshots"];
      case Kind::kKey:
        return cli_.repo() + "/keys/" + *cli_.FilesIn("keys").begin();
      case Kind::kSpareKey: {
        // A second password, added for this row: the one in use still opens the repository.
        const std::string pw = dir_.Sub("pw2");
        WriteFile(pw, "another password\n");
        const std::set<std::string> before = cli_.FilesIn("keys");
        EXPECT_EQ(cli_.Run({"key", "add", "--new-password-file", pw, "--kdf-memory-kib", "8",
                            "--kdf-iterations", "1"})
                      .exit_code,
                  0);
        for (const std::string& k : cli_.FilesIn("keys")) {
          if (!before.count(k)) return cli_.repo() + "/keys/" + k;
        }
        ADD_FAILURE() << "no key added";
        return "";
      }
      case Kind::kConfig:
        return cli_.repo() + "/config";
    }
    return "";
  }

  static void Apply(const std::string& path, Damage damage) {
    std::string bytes = ReadFile(path);
    ASSERT_FALSE(bytes.empty()) << path;
    std::filesystem::remove(path);
    switch (damage) {
      case Damage::kFlip:
        bytes[bytes.size() / 2] ^= 0x55;
        WriteFile(path, bytes);
        break;
      case Damage::kTruncate:
        WriteFile(path, bytes.substr(0, bytes.size() / 2));
        break;
      case Damage::kDelete:
        break;
    }
  }

  // check (with --read-data: a flipped byte in a pack is in a blob) through a fresh cache, so
  // that what the damage costs shows, not what a warm cache remembers.
  JsonValue Check(int want_exit) {
    RunResult r = RunFresh({"check", "--read-data", "--json"});
    EXPECT_EQ(r.exit_code, want_exit) << r.out << r.err;
    auto v = JsonValue::Parse(r.out);
    EXPECT_TRUE(v) << r.out << r.err;
    return v ? *v : JsonValue();
  }

  // `repo args...` through a cache of its own, as on a host that never used the repository.
  RunResult RunFresh(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"-r",
                                     cli_.repo(),
                                     "--password-file",
                                     cli_.password_file(),
                                     "--cache-dir",
                                     dir_.Sub("fresh-cache-" + std::to_string(fresh_++))};
    full.insert(full.end(), args.begin(), args.end());
    return test::RunProgram(cli_.binary(), full);
  }

  // The ids of the snapshots a check found damaged.
  static std::set<std::string> DamagedSnapshots(const JsonValue& v) {
    std::set<std::string> out;
    for (size_t i = 0; i < v["damaged_snapshots"].size(); ++i) {
      out.insert(v["damaged_snapshots"][i]["id"].Str());
    }
    return out;
  }

  static std::string Errors(const JsonValue& v) {
    std::string out;
    for (size_t i = 0; i < v["errors"].size(); ++i) out += v["errors"][i].Str() + "\n";
    return out;
  }

  // Restores snapshot `id` and compares src/<dir> with what was stored; returns the exit code.
  int Restore(const std::string& id, const std::string& dir, bool expect_identical) {
    const std::string target = dir_.Sub("restore-" + std::to_string(restores_++));
    RunResult r = cli_.Run({"restore", id, "--target", target});
    if (expect_identical) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      test::CompareOptions opts;
      EXPECT_TRUE(test::CompareTrees(src_ + "/" + dir, target + src_ + "/" + dir, opts).empty())
          << "snapshot " << dir;
    }
    EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.err;
    return r.exit_code;
  }

  // A command that cannot open the repository: the exit code and one line naming `what`.
  void ExpectOpenFails(int want_exit, const std::string& what) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"check"}, {"restore", two_, "--target", "t"}}) {
      RunResult r = cli_.Run(args);
      EXPECT_EQ(r.exit_code, want_exit) << args[0] << ": " << r.err;
      EXPECT_NE(r.err.find(what), std::string::npos) << args[0] << ": " << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }

  test::TempDir dir_;
  const std::string src_ = dir_.Sub("src");
  RepoCli cli_{REPO_BINARY, dir_.path()};
  const std::string x_ = Random(2 << 20, 1), z_ = Random(2 << 20, 2);
  std::string one_, two_;
  std::map<std::string, std::string> one_files_, two_files_;
  int fresh_ = 0, restores_ = 0;
};

TEST_P(CorruptionMatrixTest, CheckNamesWhatIsAffectedAndTheRestRestores) {
  const Row row = GetParam();
  const std::string target = Target(row.kind);
  ASSERT_FALSE(target.empty());
  const std::string name = std::filesystem::path(target).filename().string();
  Apply(target, row.damage);

  switch (row.kind) {
    case Kind::kPack: {
      // Snapshot one lost data (a flip: the file whose piece held the byte, x.bin being nearly
      // all of the pack; truncated or deleted: everything, its listings included); two did not.
      const JsonValue v = Check(13);
      EXPECT_NE(Errors(v).find("pack " + name.substr(0, 8)), std::string::npos) << Errors(v);
      EXPECT_EQ(DamagedSnapshots(v), std::set<std::string>{one_});
      if (row.damage == Damage::kFlip) {
        ASSERT_EQ(v["damaged_snapshots"][0]["paths"].size(), 1u);
        EXPECT_EQ(v["damaged_snapshots"][0]["paths"][0]["path"].Str(), src_ + "/one/x.bin");
        const std::string t = dir_.Sub("restore-one");
        RunResult r = cli_.Run({"restore", one_, "--target", t});
        EXPECT_EQ(r.exit_code, 13) << r.err;
        EXPECT_NE(r.err.find("damaged: " + t + src_ + "/one/x.bin"), std::string::npos) << r.err;
        EXPECT_EQ(ReadFile(t + src_ + "/one/y.txt"), "why\n");
      } else {
        EXPECT_EQ(Restore(one_, "one", false), 13);
      }
      Restore(two_, "two", true);
      break;
    }
    case Kind::kIndex: {
      // What only that file listed is missing: snapshot one's everything. A flipped or cut file
      // is an error naming it; a deleted one leaves the pack unreferenced (the index cannot know
      // of a file that is gone).
      const JsonValue v = Check(13);
      if (row.damage != Damage::kDelete) {
        EXPECT_NE(Errors(v).find("index file " + name.substr(0, 8)), std::string::npos)
            << Errors(v);
        // A cache that never merged it: every command but check refuses it, with the way out
        // (a writer must not deduplicate against an index it cannot read whole).
        RunResult r = RunFresh({"restore", two_, "--target", dir_.Sub("refused")});
        EXPECT_EQ(r.exit_code, 13) << r.err;
        EXPECT_NE(r.err.find("repair index"), std::string::npos) << r.err;
      } else {
        ASSERT_EQ(v["unreferenced_packs"].size(), 1u);
      }
      // A cache that merged it before: restores go on.
      Restore(two_, "two", true);
      EXPECT_EQ(DamagedSnapshots(v), std::set<std::string>{one_});
      // The packs are whole: repair index brings everything back.
      RunResult r = cli_.Run({"repair", "index"});
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      Check(0);
      Restore(one_, "one", true);
      Restore(two_, "two", true);
      break;
    }
    case Kind::kSnapshot: {
      if (row.damage == Damage::kDelete) {
        // A record that is gone is a snapshot forgotten: nothing else is wrong.
        const JsonValue v = Check(0);
        EXPECT_EQ(v["snapshots"].Int(), 1);
      } else {
        const JsonValue v = Check(13);
        EXPECT_NE(Errors(v).find("snapshot " + name.substr(0, 8)), std::string::npos) << Errors(v);
        EXPECT_EQ(v["errors"].size(), 1u) << Errors(v);
        EXPECT_TRUE(DamagedSnapshots(v).empty());
      }
      Restore(two_, "two", true);
      break;
    }
    case Kind::kKey:
      // The only key: nothing opens the repository, and the message says why.
      ExpectOpenFails(
          13, row.damage == Damage::kDelete ? "no key file" : "key file " + name.substr(0, 8));
      break;
    case Kind::kSpareKey: {
      if (row.damage == Damage::kDelete) {
        Check(0);  // a key removed is a password withdrawn
      } else {
        const JsonValue v = Check(13);
        EXPECT_NE(Errors(v).find("key " + name.substr(0, 8)), std::string::npos) << Errors(v);
        EXPECT_TRUE(DamagedSnapshots(v).empty());
      }
      Restore(one_, "one", true);
      Restore(two_, "two", true);
      break;
    }
    case Kind::kConfig:
      ExpectOpenFails(13, "config");
      break;
  }
}

std::vector<Row> AllRows() {
  std::vector<Row> rows;
  for (Kind k :
       {Kind::kPack, Kind::kIndex, Kind::kSnapshot, Kind::kKey, Kind::kSpareKey, Kind::kConfig}) {
    for (Damage d : {Damage::kFlip, Damage::kTruncate, Damage::kDelete}) rows.push_back({k, d});
  }
  return rows;
}

INSTANTIATE_TEST_SUITE_P(EveryKindEveryDamage, CorruptionMatrixTest, ::testing::ValuesIn(AllRows()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return Name(info.param);
                         });

}  // namespace
}  // namespace repo
