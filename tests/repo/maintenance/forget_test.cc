// ApplyPolicy (repo/maintenance/forget.h): restic's retention rules on snapshots at known times
// (in UTC, set for this test): which are kept, by which rules, per group.
#include "repo/maintenance/forget.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace repo {
namespace {

constexpr int64_t kHour = 3600, kDay = 86400;
// 2026-01-01 00:00:00 UTC, a Thursday (ISO week 1 of 2026).
constexpr int64_t kJan1 = 1767225600;

class ForgetPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (const char* tz = std::getenv("TZ")) saved_tz_ = tz;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  static void TearDownTestSuite() {
    if (saved_tz_) {
      setenv("TZ", saved_tz_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  static inline std::optional<std::string> saved_tz_;
  // A snapshot at `unix_seconds`, named n<k> by the order of adding (its id's first byte).
  void Add(int64_t unix_seconds, std::string host = "h", std::vector<std::string> tags = {},
           std::vector<std::string> paths = {"/srv"}) {
    SnapshotRef r;
    uint8_t b[Id::kSize] = {static_cast<uint8_t>(snapshots_.size())};
    r.id = Id::FromSpan(ByteSpan(b, sizeof b));
    r.snapshot.time_ns = unix_seconds * 1000000000;
    r.snapshot.hostname = std::move(host);
    r.snapshot.tags = std::move(tags);
    r.snapshot.paths = std::move(paths);
    snapshots_.push_back(r);
  }
  // The numbers (order of adding) of the kept snapshots of the only group, newest first.
  std::vector<int> Kept(const RetentionPolicy& p, const GroupBy& g = {}) {
    groups_ = ApplyPolicy(snapshots_, p, g);
    std::vector<int> out;
    for (const ForgetGroup& grp : groups_) {
      for (const ForgetDecision& d : grp.snapshots) {
        if (d.keep) out.push_back(d.snapshot.id.data()[0]);
      }
    }
    return out;
  }
  std::vector<SnapshotRef> snapshots_;
  std::vector<ForgetGroup> groups_;
};

TEST_F(ForgetPolicyTest, KeepLastKeepsTheNewest) {
  for (int i = 0; i < 5; ++i) Add(kJan1 + i * kDay);
  RetentionPolicy p;
  p.last = 2;
  EXPECT_EQ(Kept(p), (std::vector<int>{4, 3}));
  EXPECT_EQ(groups_[0].snapshots[0].reasons, std::vector<std::string>{"last snapshot"});
  EXPECT_FALSE(groups_[0].snapshots[2].keep);
}

TEST_F(ForgetPolicyTest, KeepDailyTakesTheNewestOfEachDay) {
  // Three a day (02:00, 10:00, 18:00) for four days.
  for (int d = 0; d < 4; ++d) {
    for (int h : {2, 10, 18}) Add(kJan1 + d * kDay + h * kHour);
  }
  RetentionPolicy p;
  p.daily = 3;
  EXPECT_EQ(Kept(p), (std::vector<int>{11, 8, 5}));  // the 18:00 ones of the last three days
}

TEST_F(ForgetPolicyTest, KeepHourlyWeeklyMonthlyYearly) {
  Add(kJan1 + 10 * kHour);         // 0: 2026-01-01 10:00, week 1
  Add(kJan1 + 10 * kHour + 1800);  // 1: same hour
  Add(kJan1 + 11 * kHour);         // 2: next hour
  Add(kJan1 + 4 * kDay);           // 3: 2026-01-05, Monday of week 2
  Add(kJan1 + 40 * kDay);          // 4: February
  Add(kJan1 - 10 * kDay);          // 5: 2025-12-22, week 52 of 2025
  RetentionPolicy hourly;
  hourly.hourly = 3;
  EXPECT_EQ(Kept(hourly), (std::vector<int>{4, 3, 2}));
  RetentionPolicy weekly;
  weekly.weekly = 4;
  EXPECT_EQ(Kept(weekly), (std::vector<int>{4, 3, 2, 5}));  // 1 and 0 share week 1 with 2
  RetentionPolicy monthly;
  monthly.monthly = 2;
  EXPECT_EQ(Kept(monthly), (std::vector<int>{4, 3}));
  RetentionPolicy yearly;
  yearly.yearly = 5;
  EXPECT_EQ(Kept(yearly), (std::vector<int>{4, 5}));
}

TEST_F(ForgetPolicyTest, WithinIsRelativeToTheGroupsNewest) {
  for (int i = 0; i < 10; ++i) Add(kJan1 + i * kDay);
  RetentionPolicy p;
  p.within_ns = 3 * kDay * 1000000000;
  EXPECT_EQ(Kept(p), (std::vector<int>{9, 8, 7, 6}));
  EXPECT_EQ(groups_[0].snapshots[0].reasons, std::vector<std::string>{"within 3d"});
}

TEST_F(ForgetPolicyTest, KeepTagNeedsEveryTagOfTheList) {
  Add(kJan1, "h", {"a"});
  Add(kJan1 + 1, "h", {"a", "b"});
  Add(kJan1 + 2, "h", {"b"});
  RetentionPolicy p;
  p.tags = {{"a", "b"}};
  EXPECT_EQ(Kept(p), (std::vector<int>{1}));
  p.tags = {{"a"}, {"b"}};
  EXPECT_EQ(Kept(p), (std::vector<int>{2, 1, 0}));
}

TEST_F(ForgetPolicyTest, RulesCombineAndEachReasonIsSaid) {
  for (int i = 0; i < 3; ++i) Add(kJan1 + i * kDay);
  RetentionPolicy p;
  p.last = 1;
  p.daily = 2;
  EXPECT_EQ(Kept(p), (std::vector<int>{2, 1}));
  EXPECT_EQ(groups_[0].snapshots[0].reasons,
            (std::vector<std::string>{"last snapshot", "daily snapshot"}));
}

TEST_F(ForgetPolicyTest, GroupsByHostAndPathsUnlessToldOtherwise) {
  Add(kJan1, "a");
  Add(kJan1 + 1, "b");
  Add(kJan1 + 2, "a", {}, {"/other"});
  RetentionPolicy p;
  p.last = 1;
  EXPECT_EQ(Kept(p), (std::vector<int>{2, 1, 0}));  // three groups, newest group first
  ASSERT_EQ(groups_.size(), 3u);
  EXPECT_EQ(groups_[0].paths, std::vector<std::string>{"/other"});
  EXPECT_EQ(Kept(p, GroupBy{true, false, false}), (std::vector<int>{2, 1}));  // by host: a, b
  EXPECT_EQ(Kept(p, *ParseGroupBy("")), std::vector<int>{2});                 // one group
}

TEST(ForgetGroupByTest, ParsesTheFieldsAndRefusesOthers) {
  auto g = ParseGroupBy("paths,tags");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->host);
  EXPECT_TRUE(g->paths && g->tags);
  EXPECT_EQ(ParseGroupBy("hosts").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace repo
