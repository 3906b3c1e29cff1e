// Sessions end to end with the real binary (docs/design.md, "Sessions"; docs/cli.md, `repo
// sessions`, `repo unlock`): a running snapshot is listed, a SIGKILLed one blocks nothing and the
// next command removes its record, an interrupted one removes its own, and a maintenance command
// refuses to run beside another host's maintenance until that one is unlocked or assumed dead.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "repo/os/identity.h"
#include "repo/storage/local_backend.h"
#include "repo/store/session.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using namespace std::chrono_literals;
using test::JsonValue;
using test::RepoCli;
using test::RunResult;
using test::TempDir;

// `repo snapshot --stdin` running in the background, reading from a pipe this test holds: it
// registers its session, then waits for data.
class BackgroundSnapshot {
 public:
  // `ignore_hup`: started as under nohup, with SIGHUP ignored.
  explicit BackgroundSnapshot(const RepoCli& cli, bool ignore_hup = false) {
    int in[2];
    EXPECT_EQ(pipe(in), 0);
    std::vector<std::string> args = cli.Args({"snapshot", "--stdin", "--no-progress"});
    args.insert(args.begin(), cli.binary());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      setsid();
      // Whatever this test was started with (a script's `&` ignores SIGINT), as from a shell.
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
      if (ignore_hup) signal(SIGHUP, SIG_IGN);
      dup2(in[0], STDIN_FILENO);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      close(in[1]);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(in[0]);
    stdin_ = in[1];
  }
  ~BackgroundSnapshot() {
    if (stdin_ >= 0) close(stdin_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  // Sends `sig` and returns the exit code as a shell reports it (128 + signal if killed by it).
  int Signal(int sig) {
    kill(pid_, sig);
    return Wait();
  }
  pid_t pid() const { return pid_; }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    signaled_ = WIFSIGNALED(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  bool reaped_ = false;
  bool signaled_ = false;

 public:
  // Whether it died of a signal (rather than exiting with a code).
  bool signaled() const { return signaled_; }
};

class SessionsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cli_.Init().exit_code, 0); }

  RunResult Run(const std::vector<std::string>& args) { return cli_.Run(args); }
  JsonValue Sessions(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"sessions", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto v = JsonValue::Parse(r.out);
    return v ? *v : JsonValue();
  }
  // Session records in locks/ (not the backend's temporary files, whose names start with '.').
  size_t Records() {
    size_t n = 0;
    for (const std::string& f : cli_.FilesIn("locks")) n += f[0] != '.';
    return n;
  }
  // Waits until `n` sessions are registered (a background command has started).
  bool WaitForSessions(size_t n) {
    for (int i = 0; i < 400; ++i) {
      if (Records() >= n) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
};

TEST_F(SessionsTest, ARunningSnapshotIsListedAndAKilledOneBlocksNothing) {
  BackgroundSnapshot snap(cli_);
  ASSERT_TRUE(WaitForSessions(1));
  JsonValue listed = Sessions();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["command"].Str(), "snapshot");
  EXPECT_EQ(listed[0]["kind"].Str(), "writer");
  EXPECT_EQ(listed[0]["state"].Str(), "running");
  // A running session of this host cannot be unlocked.
  EXPECT_EQ(Run({"unlock", listed[0]["short_id"].Str()}).exit_code, 2);

  EXPECT_EQ(snap.Signal(SIGKILL), 128 + SIGKILL);
  listed = Sessions();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["state"].Str(), "gone");
  EXPECT_TRUE(listed[0]["counts_as_dead"].Bool());
  // Maintenance is not blocked by it, and the next command removes it with a warning.
  RunResult repair = Run({"repair", "index"});
  EXPECT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_NE(repair.err.find("removed stale session " + listed[0]["short_id"].Str()),
            std::string::npos)
      << repair.err;
  EXPECT_EQ(Records(), 0u);
  EXPECT_EQ(cli_.Run({"snapshot", "--stdin", "--no-progress"}, "after\n").exit_code, 0);
  EXPECT_EQ(Records(), 0u);
}

TEST_F(SessionsTest, AnInterruptedSnapshotRemovesItsOwnRecordAndDiesOfTheSignal) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(strsignal(sig));
    BackgroundSnapshot snap(cli_);
    ASSERT_TRUE(WaitForSessions(1));
    EXPECT_EQ(snap.Signal(sig), 128 + sig);
    EXPECT_TRUE(snap.signaled()) << "exited instead of dying of the signal";
    EXPECT_EQ(Records(), 0u);
    EXPECT_TRUE(cli_.FilesIn("snapshots").empty());
  }
}

TEST_F(SessionsTest, UnderNohupSighupIsIgnored) {
  BackgroundSnapshot snap(cli_, /*ignore_hup=*/true);
  ASSERT_TRUE(WaitForSessions(1));
  kill(snap.pid(), SIGHUP);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Records(), 1u) << "SIGHUP ended a command started with it ignored";
  EXPECT_EQ(snap.Signal(SIGTERM), 128 + SIGTERM);
  EXPECT_EQ(Records(), 0u);
}

TEST_F(SessionsTest, TagAndKeyCommandsLeaveNoSessionBehind) {
  ASSERT_EQ(cli_.Run({"snapshot", "--stdin", "--no-progress"}, "x\n").exit_code, 0);
  RunResult tag = Run({"tag", "latest", "--add", "kept"});
  EXPECT_EQ(tag.exit_code, 0) << tag.err;
  test::WriteFile(dir_.Sub("pw2"), "second password\n");
  RunResult key = Run({"key", "add", "--new-password-file", dir_.Sub("pw2"), "--kdf-memory-kib",
                       "8", "--kdf-iterations", "1"});
  EXPECT_EQ(key.exit_code, 0) << key.err;
  EXPECT_EQ(Records(), 0u);
}

TEST_F(SessionsTest, MaintenanceWaitsForAnotherHostsMaintenanceUntilUnlockedOrAssumedDead) {
  // Another host's `repair index`, last refreshed an hour ago.
  {
    auto repo = Repository::Open(LocalBackend::Open(cli_.repo()).value(),
                                 SecretBytes::CopyOf(AsBytes("correct horse battery staple")),
                                 dir_.Sub("other-cache"));
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    SessionRecord r;
    r.session = *Id::ParseHex(std::string(64, 'a'));
    r.kind = SessionKind::kMaintenance;
    r.command = "repair index";
    r.process = {"db2", "ffffffffffffffffffffffffffffffff", "another boot", 1, 4242, 7};
    r.started_ns = r.refreshed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch() - 1h)
                                        .count();
    ASSERT_TRUE(WriteSessionRecord((*repo)->metadata(), r).ok());
  }
  RunResult refused = Run({"repair", "index"});
  EXPECT_EQ(refused.exit_code, 11) << refused.err;
  EXPECT_NE(refused.err.find("session aaaaaaaa (repo repair index, pid"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("repo unlock aaaaaaaa"), std::string::npos) << refused.err;
  // Writers never wait for it.
  EXPECT_EQ(cli_.Run({"snapshot", "--stdin", "--no-progress"}, "data\n").exit_code, 0);
  JsonValue listed = Sessions();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["state"].Str(), "elsewhere");
  EXPECT_EQ(Sessions({"--assume-dead-after", "30m"})[0]["state"].Str(), "expired");
  EXPECT_EQ(Sessions({"--assume-dead-after", "2h"})[0]["state"].Str(), "elsewhere");
  EXPECT_EQ(Run({"repair", "index", "--assume-dead-after", "2h"}).exit_code, 11);
  EXPECT_EQ(Run({"repair", "index", "--assume-dead-after", "soon"}).exit_code, 2);
  // Shorter than three refresh intervals would declare live writers dead between refreshes.
  RunResult too_short = Run({"repair", "index", "--assume-dead-after", "1m"});
  EXPECT_EQ(too_short.exit_code, 2);
  EXPECT_NE(too_short.err.find("at least 15m"), std::string::npos) << too_short.err;
  EXPECT_EQ(Run({"sessions", "--assume-dead-after", "999999999w"}).exit_code, 2);

  RunResult unlocked = Run({"unlock", "aaaa"});
  EXPECT_EQ(unlocked.exit_code, 0) << unlocked.err;
  EXPECT_NE(unlocked.out.find("removed session aaaaaaaa"), std::string::npos) << unlocked.out;
  EXPECT_EQ(Run({"unlock", "aaaa"}).exit_code, 1);  // no such session any more
  RunResult repair = Run({"repair", "index"});
  EXPECT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_EQ(Records(), 0u);
}

}  // namespace
}  // namespace repo
