// `repo forget` end to end, as a nightly script runs it after `repo snapshot`: it refuses to run
// without a policy or ids; --dry-run lists every snapshot with keep or remove and why, and
// removes nothing; a policy and an id list remove exactly those records; the repository still
// checks clean.
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

class ForgetCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cli_.Init().exit_code, 0);
    std::filesystem::create_directories(src_);
    for (int i = 0; i < 4; ++i) {
      WriteFile(src_ + "/file", "version " + std::to_string(i) + "\n");
      RunResult r = cli_.Run({"snapshot", src_, "--json"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      ids_.push_back(RepoCli::Summary(r)["snapshot_id"].Str());
    }
  }
  size_t Count() { return cli_.Snapshots().size(); }

  test::TempDir dir_;
  const std::string src_ = dir_.Sub("src");
  RepoCli cli_{REPO_BINARY, dir_.path()};
  std::vector<std::string> ids_;  // oldest first
};

TEST_F(ForgetCliTest, RefusesWithoutAPolicy) {
  RunResult r = cli_.Run({"forget"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("policy"), std::string::npos) << r.err;
  EXPECT_EQ(Count(), 4u);
  r = cli_.Run({"forget", ids_[0], "--keep-last", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = cli_.Run({"forget", "--keep-last", "0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

// restic's units: "6m" is six months, never six minutes (which would remove nearly everything).
TEST_F(ForgetCliTest, KeepWithinTakesResticsUnits) {
  RunResult r = cli_.Run({"forget", "--keep-within", "6m", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 kept, 0 would be removed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(within 6m)"), std::string::npos) << r.out;
  EXPECT_EQ(cli_.Run({"forget", "--keep-within", "30s"}).exit_code, 2);
  EXPECT_EQ(Count(), 4u);
}

TEST_F(ForgetCliTest, DryRunSaysWhatAndWhyAndRemovesNothing) {
  RunResult r = cli_.Run({"forget", "--keep-last", "2", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("keep    " + ids_[3].substr(0, 8)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(last snapshot)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("remove  " + ids_[0].substr(0, 8)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 kept, 2 would be removed"), std::string::npos) << r.out;
  EXPECT_EQ(Count(), 4u);
}

TEST_F(ForgetCliTest, PolicyAndIdsRemoveExactlyThoseRecords) {
  RunResult r = cli_.Run({"forget", "--keep-last", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = JsonValue::Parse(r.out);
  ASSERT_TRUE(v) << r.out;
  EXPECT_EQ((*v)["removed"].Int(), 1);
  ASSERT_EQ((*v)["groups"].size(), 1u);
  EXPECT_EQ((*v)["groups"][0]["remove"][0]["id"].Str(), ids_[0]);
  EXPECT_EQ((*v)["groups"][0]["keep"][0]["reasons"][0].Str(), "last snapshot");
  EXPECT_EQ(Count(), 3u);

  r = cli_.Run({"forget", ids_[2].substr(0, 8)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const JsonValue left = cli_.Snapshots();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0]["id"].Str(), ids_[1]);
  EXPECT_EQ(left[1]["id"].Str(), ids_[3]);
  // The data of the removed snapshots stays (prune is another command): still clean.
  r = cli_.Run({"check", "--read-data"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The snapshot taken last restores as before.
  r = cli_.Run({"dump", "latest", src_ + "/file"});
  EXPECT_EQ(r.out, "version 3\n");
}

}  // namespace
}  // namespace repo
