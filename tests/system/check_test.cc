// `repo check` end to end, as an operator's weekly cron job runs it (USE-CASES.md job 6): exit 0
// and "no errors were found" on a clean repository; exit 13 when data is lost, naming the
// snapshot and the file, in text and in the --json summary that monitoring reads.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::JsonValue;
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

}  // namespace
}  // namespace repo
