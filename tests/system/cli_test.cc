// The CLI as scripts use it: exit codes, one-line errors, password sources, --json, key
// management. Runs the built `repo` binary with no terminal.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::RunProgram;
using test::RunResult;
using test::TempDir;
using test::WriteFile;

// Fast key derivation for tests (the defaults cost ~0.1 s per command).
const std::vector<std::string> kFastKdf = {"--kdf-memory-kib", "8", "--kdf-iterations", "1"};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.Sub("pw"), "correct horse\n");
    WriteFile(dir_.Sub("pw2"), "battery staple");
    WriteFile(dir_.Sub("wrong"), "wrong");
  }

  RunResult Repo(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    env.emplace("REPO_CACHE_DIR", dir_.Sub("cache"));
    return RunProgram(REPO_BINARY, args, env);
  }
  // `repo -r <repo> --password-file <pw> args...`
  RunResult RepoPw(const std::string& pw, std::vector<std::string> args) {
    std::vector<std::string> full = {"-r", repo_, "--password-file", dir_.Sub(pw)};
    full.insert(full.end(), args.begin(), args.end());
    return Repo(full);
  }
  void Init() {
    std::vector<std::string> args = {"init"};
    args.insert(args.end(), kFastKdf.begin(), kFastKdf.end());
    RunResult r = RepoPw("pw", args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static int Lines(const std::string& s) {
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }

  TempDir dir_;
  std::string repo_ = dir_.Sub("repo");
};

TEST_F(CliTest, VersionAndHelp) {
  RunResult r = Repo({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("repo "), std::string::npos);
  r = Repo({"version", "--json"});
  EXPECT_NE(r.out.find("\"format_version\":4"), std::string::npos) << r.out;
  r = Repo({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("key passwd"), std::string::npos);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Repo({}).exit_code, 2);
  RunResult r = Repo({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_EQ(Repo({"version", "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(Repo({"init"}).exit_code, 2);  // no repository given
}

TEST_F(CliTest, InitThenKeyList) {
  Init();
  EXPECT_TRUE(std::filesystem::exists(repo_ + "/config"));
  for (const char* d : {"keys", "data", "index", "snapshots", "locks"}) {
    EXPECT_TRUE(std::filesystem::is_directory(repo_ + "/" + d)) << d;
  }
  RunResult r = RepoPw("pw", {"key", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out), 2) << r.out;  // header + one key, marked current
  EXPECT_NE(r.out.find('*'), std::string::npos);
}

TEST_F(CliTest, InitRefusesExistingRepository) {
  Init();
  std::vector<std::string> args = {"init"};
  args.insert(args.end(), kFastKdf.begin(), kFastKdf.end());
  RunResult r = RepoPw("pw", args);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
}

TEST_F(CliTest, WrongPasswordExitsTwelveWithOneLine) {
  Init();
  RunResult r = RepoPw("wrong", {"key", "list"});
  EXPECT_EQ(r.exit_code, 12);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("wrong password"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliTest, MissingRepositoryExitsTen) {
  RunResult r = RepoPw("pw", {"key", "list"});
  EXPECT_EQ(r.exit_code, 10);
  EXPECT_NE(r.err.find("repo init"), std::string::npos) << r.err;
}

TEST_F(CliTest, NoPasswordSourceAndNoTerminalIsAUsageError) {
  Init();
  RunResult r = Repo({"-r", repo_, "key", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--password-file"), std::string::npos) << r.err;
}

TEST_F(CliTest, PasswordFromEnvironmentAndCommand) {
  Init();
  RunResult r =
      Repo({"key", "list"}, {{"REPO_REPOSITORY", repo_}, {"REPO_PASSWORD_FILE", dir_.Sub("pw")}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Repo({"-r", repo_, "--password-command", "printf 'correct horse'", "key", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Repo({"key", "list"}, {{"REPO_REPOSITORY", repo_}, {"REPO_PASSWORD_COMMAND", "echo nope"}});
  EXPECT_EQ(r.exit_code, 12);
  r = Repo({"-r", repo_, "--password-command", "exit 3", "key", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("password command"), std::string::npos) << r.err;
}

TEST_F(CliTest, KeyAddPasswdRemove) {
  Init();
  std::vector<std::string> add = {"key", "add", "--new-password-file", dir_.Sub("pw2")};
  add.insert(add.end(), kFastKdf.begin(), kFastKdf.end());
  RunResult r = RepoPw("pw", add);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RepoPw("pw2", {"key", "list"}).exit_code, 0);
  EXPECT_EQ(RepoPw("pw", {"key", "list"}).exit_code, 0);

  // The key in use cannot be removed; the other one can.
  r = RepoPw("pw", {"key", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0);
  size_t cur = r.out.find("\"current\":true");
  ASSERT_NE(cur, std::string::npos) << r.out;
  std::string current_id = r.out.substr(r.out.rfind("\"id\":\"", cur) + 6, 8);
  r = RepoPw("pw", {"key", "remove", current_id});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
  r = RepoPw("pw2", {"key", "remove", current_id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RepoPw("pw", {"key", "list"}).exit_code, 12);

  // The last key cannot be removed (it is also the current one; try by password of another key
  // after passwd below).
  std::vector<std::string> passwd = {"key", "passwd", "--new-password-file", dir_.Sub("pw")};
  passwd.insert(passwd.end(), kFastKdf.begin(), kFastKdf.end());
  r = RepoPw("pw2", passwd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RepoPw("pw2", {"key", "list"}).exit_code, 12);
  r = RepoPw("pw", {"key", "list"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(Lines(r.out), 2) << r.out;
}

TEST_F(CliTest, KeyRemoveUnknownOrAmbiguousId) {
  Init();
  RunResult r = RepoPw("pw", {"key", "remove", "ffffffff"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no key file matches"), std::string::npos) << r.err;
  r = RepoPw("pw", {"key", "remove", "ab"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CliTest, NewerFormatIsRefusedBeforeAskingForPassword) {
  Init();
  std::fstream f(repo_ + "/config", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(4);
  f.put(2);  // envelope format version
  f.close();
  RunResult r = RepoPw("wrong", {"key", "list"});
  EXPECT_EQ(r.exit_code, 14);
  EXPECT_NE(r.err.find("upgrade repo"), std::string::npos) << r.err;
}

TEST_F(CliTest, DamagedKeyFileIsReportedAsDamageNotACrash) {
  Init();
  for (const auto& e : std::filesystem::directory_iterator(repo_ + "/keys")) {
    // Flip a bit (writing a fixed byte left the file as it was whenever that byte was already
    // there: 1 run in 256, the key file being random bytes).
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-20, std::ios::end);
    const char c = static_cast<char>(f.get());
    f.seekp(-20, std::ios::end);
    f.put(static_cast<char>(c ^ 0x01));
  }
  RunResult r = RepoPw("pw", {"key", "list"});
  // Not taken for a wrong password: the file no longer hashes to its name.
  EXPECT_EQ(r.exit_code, 13) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("is damaged"), std::string::npos) << r.err;
}

TEST_F(CliTest, RepairIndexOnEmptyRepository) {
  Init();
  RunResult r = RepoPw("pw", {"repair", "index", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"packs_read\":0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace repo
