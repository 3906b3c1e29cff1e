// Session records and the session protocol (repo/store/session.h; docs/design.md, "Sessions"):
// the record's encoding, how a listing judges a session's process, stale sessions removed by the
// next command, maintenance excluding maintenance only, refreshing, and a removed session noticed
// before a writer commits.
#include "repo/store/session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using namespace std::chrono_literals;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
  }

  // A record as another process would write it: this process's identity, changed by `edit`.
  template <typename Edit>
  SessionRecord Other(SessionKind kind, Edit edit) {
    SessionRecord r;
    r.session = Id::FromSpan(test::RandomBytes(Id::kSize, ++seed_));
    r.kind = kind;
    r.command = kind == SessionKind::kMaintenance ? "repair index" : "snapshot";
    r.username = "someone";
    r.process = SelfIdentity();
    r.started_ns = r.refreshed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
    edit(r);
    auto written = WriteSessionRecord(repo_->metadata(), r);
    EXPECT_TRUE(written.ok()) << written.status().ToString();
    return r;
  }

  std::vector<SessionInfo> List(std::optional<std::chrono::seconds> dead_after = std::nullopt) {
    auto listed = ListSessions(*repo_, dead_after);
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    return listed.ok() ? *listed : std::vector<SessionInfo>{};
  }
  std::optional<SessionState> StateOf(const Id& session) {
    for (const SessionInfo& s : List()) {
      if (s.record.session == session) return s.state;
    }
    return std::nullopt;
  }
  size_t Files() { return storage_.List(FileType::kSession)->size(); }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  uint64_t seed_ = 0;
};

TEST(SessionRecordTest, RoundTripsAndRefusesDamage) {
  SessionRecord r;
  r.session = Id::FromSpan(test::RandomBytes(Id::kSize, 1));
  r.kind = SessionKind::kMaintenance;
  r.command = "repair index";
  r.username = "postgres";
  r.process = {"db1", "0123456789abcdef0123456789abcdef", "boot", 4026531836, 4242, 987654};
  r.started_ns = 1;
  r.refreshed_ns = 2;
  r.parents = {Id::FromSpan(test::RandomBytes(Id::kSize, 2))};
  const Bytes payload = EncodeSessionPayload(r);
  auto back = DecodeSessionPayload(payload, "session x");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    auto shorter = DecodeSessionPayload(ByteSpan(payload).first(cut), "session x");
    EXPECT_EQ(shorter.status().code(), StatusCode::kCorruption) << "cut at " << cut;
  }
  Bytes longer = payload;
  longer.push_back(0);
  EXPECT_EQ(DecodeSessionPayload(longer, "session x").status().code(), StatusCode::kCorruption);
  Bytes bad_kind = payload;
  bad_kind[1 + Id::kSize] = 3;
  EXPECT_EQ(DecodeSessionPayload(bad_kind, "session x").status().code(), StatusCode::kCorruption);
  Bytes newer = payload;
  newer[0] = kSessionVersion + 1;
  EXPECT_EQ(DecodeSessionPayload(newer, "session x").status().code(),
            StatusCode::kUnsupportedVersion);
}

TEST_F(SessionTest, ARegisteredSessionIsListedRunningUntilItEnds) {
  const Id parent = Id::FromSpan(test::RandomBytes(Id::kSize, 99));
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {parent});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto listed = List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].record.session, (*s)->id());
  EXPECT_EQ(listed[0].state, SessionState::kRunning);
  EXPECT_EQ(listed[0].record.command, "snapshot");
  EXPECT_EQ(listed[0].record.parents, std::vector<Id>{parent});
  EXPECT_EQ(listed[0].record.process.pid, SelfIdentity().pid);
  EXPECT_TRUE((*s)->CheckIntact().ok());
  ASSERT_TRUE((*s)->End().ok());
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(Files(), 0u);
  EXPECT_TRUE((*s)->End().ok());  // idempotent
}

TEST_F(SessionTest, AListingJudgesEachSessionsProcess) {
  ASSERT_NE(SelfIdentity().start_ticks, 0u) << "needs /proc";
  const SessionRecord reused_pid =
      Other(SessionKind::kWriter, [](SessionRecord& r) { r.process.start_ticks += 1; });
  // Another boot of this host, last refreshed before this boot began (1970).
  const SessionRecord other_boot = Other(SessionKind::kWriter, [](SessionRecord& r) {
    r.process.boot_id = "another boot";
    r.refreshed_ns = 1000000000;
  });
  // The same, but refreshed since this boot began: another host with this one's name and
  // machine id (a clone), not a reboot.
  const SessionRecord other_boot_since =
      Other(SessionKind::kWriter, [](SessionRecord& r) { r.process.boot_id = "another boot"; });
  const SessionRecord no_such_pid =
      Other(SessionKind::kWriter, [](SessionRecord& r) { r.process.pid = 0x3fffffff; });
  const SessionRecord other_host = Other(SessionKind::kWriter, [](SessionRecord& r) {
    r.process.hostname = "db2";
    r.process.machine_id = "ffffffffffffffffffffffffffffffff";
    r.process.boot_id = "another boot";
  });
  const SessionRecord same_name_other_machine = Other(SessionKind::kWriter, [](SessionRecord& r) {
    r.process.machine_id = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    r.process.boot_id = "another boot";
  });
  const SessionRecord clone_other_name = Other(SessionKind::kWriter, [](SessionRecord& r) {
    r.process.hostname = "clone";
    r.process.boot_id = "another boot";
  });
  const SessionRecord other_namespace =
      Other(SessionKind::kWriter, [](SessionRecord& r) { r.process.pid_namespace += 1; });
  const SessionRecord alive = Other(SessionKind::kWriter, [](SessionRecord&) {});
  EXPECT_EQ(StateOf(reused_pid.session), SessionState::kGone);
  EXPECT_EQ(StateOf(no_such_pid.session), SessionState::kGone);
  if (SelfIdentity().machine_id.size() == 32) {  // a real machine id: reboots are recognised
    EXPECT_EQ(StateOf(other_boot.session), SessionState::kGone);
  }
  EXPECT_EQ(StateOf(other_boot_since.session), SessionState::kElsewhere);
  EXPECT_EQ(StateOf(other_host.session), SessionState::kElsewhere);
  EXPECT_EQ(StateOf(same_name_other_machine.session), SessionState::kElsewhere);
  EXPECT_EQ(StateOf(clone_other_name.session), SessionState::kElsewhere);
  EXPECT_EQ(StateOf(other_namespace.session), SessionState::kElsewhere);
  EXPECT_EQ(StateOf(alive.session), SessionState::kRunning);
}

TEST_F(SessionTest, OtherHostsCountAsAliveUntilAssumedDeadAfterADuration) {
  const SessionRecord old = Other(SessionKind::kWriter, [](SessionRecord& r) {
    r.process = {"elsewhere", "ffffffffffffffffffffffffffffffff", "another boot", 1, 7, 7};
    r.refreshed_ns -= std::chrono::nanoseconds(3h).count();
  });
  auto listed = List(2h);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, SessionState::kExpired);
  listed = List(4h);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, SessionState::kElsewhere);
  // Any length compares without overflow (100 years).
  listed = List(std::chrono::seconds(100ll * 366 * 86400));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, SessionState::kElsewhere);
}

TEST_F(SessionTest, TheNextCommandRemovesSessionsWhoseProcessIsGoneWithANote) {
  const SessionRecord gone =
      Other(SessionKind::kWriter, [](SessionRecord& r) { r.process.start_ticks += 1; });
  const SessionRecord elsewhere = Other(SessionKind::kWriter, [](SessionRecord& r) {
    r.process = {"db2", "ffffffffffffffffffffffffffffffff", "another boot", 1, 7, 7};
  });
  std::vector<std::string> notes;
  SessionOptions o;
  o.note = [&](const std::string& m) { notes.push_back(m); };
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {}, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(StateOf(gone.session), std::nullopt);
  EXPECT_EQ(StateOf(elsewhere.session), SessionState::kElsewhere);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("removed stale session " + gone.session.ShortHex()), std::string::npos)
      << notes[0];
  EXPECT_NE(notes[0].find("its process is gone"), std::string::npos) << notes[0];
}

TEST_F(SessionTest, MaintenanceExcludesMaintenanceButNeverWriters) {
  auto writer = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  ASSERT_TRUE(writer.ok());
  auto first = Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {});
  ASSERT_TRUE(first.ok()) << "a writer must not block maintenance: " << first.status().ToString();
  auto second = Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {});
  ASSERT_EQ(second.status().code(), StatusCode::kLocked);
  EXPECT_NE(second.status().message().find((*first)->id().ShortHex()), std::string::npos)
      << second.status().ToString();
  EXPECT_NE(second.status().message().find("repo unlock"), std::string::npos);
  EXPECT_EQ(List().size(), 2u) << "the refused session left its record behind";
  auto another_writer = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  EXPECT_TRUE(another_writer.ok())
      << "maintenance must not block writers: " << another_writer.status().ToString();
  ASSERT_TRUE((*first)->End().ok());
  EXPECT_TRUE(Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {}).ok());
}

TEST_F(SessionTest, AnotherHostsMaintenanceBlocksUntilAssumedDead) {
  Other(SessionKind::kMaintenance, [](SessionRecord& r) {
    r.process = {"db2", "ffffffffffffffffffffffffffffffff", "another boot", 1, 7, 7};
    r.refreshed_ns -= std::chrono::nanoseconds(1h).count();
  });
  auto blocked = Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {});
  EXPECT_EQ(blocked.status().code(), StatusCode::kLocked);
  SessionOptions o;
  o.assume_dead_after = 30min;
  std::vector<std::string> notes;
  o.note = [&](const std::string& m) { notes.push_back(m); };
  auto s = Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {}, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("--assume-dead-after"), std::string::npos) << notes[0];
  EXPECT_EQ(List().size(), 1u);
}

TEST_F(SessionTest, AnUnreadableRecordBlocksMaintenanceUntilUnlocked) {
  const Bytes junk = test::RandomBytes(100, 5);
  auto written = repo_->metadata().Write(FileType::kSession, junk);
  ASSERT_TRUE(written.ok());
  auto listed = List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, SessionState::kUnreadable);
  EXPECT_EQ(listed[0].record.session, *written);
  EXPECT_TRUE(Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {}).ok());
  auto blocked = Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {});
  EXPECT_EQ(blocked.status().code(), StatusCode::kLocked);
  ASSERT_TRUE(RemoveSession(*repo_, listed[0]).ok());
  EXPECT_TRUE(Session::Begin(*repo_, SessionKind::kMaintenance, "repair index", {}).ok());
}

TEST_F(SessionTest, RefreshingReplacesTheRecordWithANewerCopy) {
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  ASSERT_TRUE(s.ok());
  const auto first = List();
  ASSERT_EQ(first.size(), 1u);
  std::this_thread::sleep_for(2ms);
  ASSERT_TRUE((*s)->Refresh().ok());
  const auto later = List();
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].record.session, first[0].record.session);
  EXPECT_GT(later[0].record.refreshed_ns, first[0].record.refreshed_ns);
  EXPECT_NE(later[0].files, first[0].files);
  EXPECT_EQ(later[0].files.size(), 1u);
  EXPECT_EQ(later[0].record.started_ns, first[0].record.started_ns);
  ASSERT_TRUE((*s)->End().ok());
  EXPECT_EQ(Files(), 0u) << "a refreshed session left a copy behind";
}

TEST_F(SessionTest, TheRefreshThreadRewritesTheRecord) {
  SessionOptions o;
  o.refresh_interval = 10ms;
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {}, o);
  ASSERT_TRUE(s.ok());
  const int64_t first = List().at(0).record.refreshed_ns;
  bool refreshed = false;
  for (int i = 0; i < 500 && !refreshed; ++i) {
    std::this_thread::sleep_for(10ms);
    auto listed = List();
    ASSERT_EQ(listed.size(), 1u);
    refreshed = listed[0].record.refreshed_ns > first;
  }
  EXPECT_TRUE(refreshed);
  ASSERT_TRUE((*s)->End().ok());
  EXPECT_EQ(Files(), 0u);
}

// A listing that reads a copy a refresh has just replaced lists again: a session being refreshed
// all the time is in every listing.
TEST_F(SessionTest, AListingNeverMissesASessionThatIsBeingRefreshed) {
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  ASSERT_TRUE(s.ok());
  std::atomic<bool> stop{false};
  std::thread refresher([&] {
    while (!stop) {
      EXPECT_TRUE((*s)->Refresh().ok());
      std::this_thread::sleep_for(1ms);
    }
  });
  for (int i = 0; i < 300; ++i) {
    auto listed = ListSessions(*repo_);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    ASSERT_EQ(listed->size(), 1u) << "listing " << i << " missed the session";
  }
  stop = true;
  refresher.join();
}

TEST_F(SessionTest, AWriterWhoseSessionWasUnlockedRefusesToCommit) {
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  ASSERT_TRUE(s.ok());
  auto listed = List();
  ASSERT_EQ(listed.size(), 1u);
  ASSERT_TRUE(RemoveSession(*repo_, listed[0]).ok());  // what `repo unlock` does
  Status intact = (*s)->CheckIntact();
  EXPECT_EQ(intact.code(), StatusCode::kAborted) << intact.ToString();
  EXPECT_EQ((*s)->Refresh().code(), StatusCode::kAborted);
  EXPECT_EQ(Files(), 0u) << "a refresh brought an unlocked session back";
  EXPECT_TRUE((*s)->End().ok());
}

TEST_F(SessionTest, ACommitRunsOnlyWhileTheSessionIsIntact) {
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  ASSERT_TRUE(s.ok());
  int runs = 0;
  EXPECT_TRUE((*s)->Commit([&] {
                    ++runs;
                    return Status::OK();
                  })
                  .ok());
  EXPECT_EQ(runs, 1);
  ASSERT_TRUE(RemoveSession(*repo_, List().at(0)).ok());
  EXPECT_EQ((*s)->Commit([&] {
                  ++runs;
                  return Status::OK();
                })
                .code(),
            StatusCode::kAborted);
  EXPECT_EQ(runs, 1) << "committed after the session was removed";
}

// `repo unlock` lists, then removes the copies it listed; a refresh in between writes a new copy
// and finds the old one gone when it deletes it: the new copy goes too, and the session stays
// removed.
TEST_F(SessionTest, ARefreshRacingAnUnlockDoesNotBringTheSessionBack) {
  auto s = Session::Begin(*repo_, SessionKind::kWriter, "snapshot", {});
  ASSERT_TRUE(s.ok());
  auto listed = List();
  ASSERT_EQ(listed.size(), 1u);
  std::this_thread::sleep_for(2ms);
  // The unlock's deletion lands after the refresh's write and before its delete: simulated by
  // deleting the listed copy first, then refreshing (the refresh writes, then finds it gone).
  ASSERT_TRUE(RemoveSession(*repo_, listed[0]).ok());
  EXPECT_EQ((*s)->Refresh().code(), StatusCode::kAborted);
  EXPECT_EQ(Files(), 0u);
  EXPECT_EQ((*s)->CheckIntact().code(), StatusCode::kAborted);
  EXPECT_TRUE((*s)->End().ok());
  EXPECT_EQ(Files(), 0u);
}

}  // namespace
}  // namespace repo
