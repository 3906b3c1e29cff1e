// `repo snapshot` end to end, as cron jobs use it (docs/cli.md, USE-CASES.md jobs 1 and 8):
// incremental snapshots that read nothing unchanged, streams from stdin and from a command (a
// failed command leaves no snapshot), incomplete snapshots (exit 3, the unreadable file named),
// and excludes. Runs the built binary with no terminal; each test has its own repository.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::Added;
using test::JsonValue;
using test::RepoCli;
using test::RunProgram;
using test::RunResult;
using test::SplitLines;
using test::TempDir;
using test::WriteFile;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = rng();
    std::memcpy(&s[i], &r, std::min<size_t>(8, n - i));
  }
  return s;
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = cli_.Init();
    ASSERT_EQ(r.exit_code, 0) << "repo init failed: " << r.err;
  }

  // `repo snapshot args... --json`; the summary, after checking the exit code.
  JsonValue Snapshot(std::vector<std::string> args, int expect_exit = 0,
                     const std::string& stdin_data = "") {
    args.insert(args.begin(), {"snapshot", "--json"});  // before any '--'
    RunResult r = cli_.Run(args, stdin_data);
    EXPECT_EQ(r.exit_code, expect_exit) << "repo snapshot: " << r.err;
    JsonValue summary = RepoCli::Summary(r);
    EXPECT_TRUE(summary.is_object()) << "no JSON summary from repo snapshot: " << r.out;
    return summary;
  }

  // Paths listed by `repo ls SNAPSHOT --recursive`, as a set.
  std::set<std::string> Listing(const std::string& snapshot = "latest") {
    RunResult r = cli_.Run({"ls", snapshot, "--recursive"});
    EXPECT_EQ(r.exit_code, 0) << "repo ls: " << r.err;
    auto lines = SplitLines(r.out);
    return std::set<std::string>(lines.begin(), lines.end());
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
};

// ---- Incremental snapshots ---------------------------------------------------------------------

// Runs `repo args...` with the directory `anchor` bind-mounted on /mnt in a private mount
// namespace, so that the snapshot's path (/mnt/src) has ancestors nothing else changes. (A
// snapshot records its paths' ancestors; /tmp changes whenever any process creates a file
// there, which would rightly add new tree blobs for / and /tmp.) nullopt if that is impossible
// here (no root or no CAP_SYS_ADMIN).
std::optional<RunResult> RunWithStableAnchor(const RepoCli& cli, const std::string& anchor,
                                             const std::vector<std::string>& args) {
  if (geteuid() != 0 || !std::filesystem::is_directory("/mnt")) return std::nullopt;
  std::vector<std::string> argv = {"-m",        "--propagation",
                                   "private",   "/bin/sh",
                                   "-c",        "mount --bind \"$1\" /mnt && shift && exec \"$@\"",
                                   "sh",        anchor,
                                   cli.binary()};
  auto full = cli.Args(args);
  argv.insert(argv.end(), full.begin(), full.end());
  RunResult r = RunProgram("/usr/bin/unshare", argv);
  if (r.exit_code != 0 && r.out.empty() && r.err.find("repo:") == std::string::npos) {
    return std::nullopt;  // unshare or mount refused
  }
  return r;
}

// Use case: the nightly snapshot of a large, mostly unchanged tree must cost a stat per file.
// 1 GiB in 16 files, written from one repeating random 1 MiB block so that it is quick to
// create and to store (it deduplicates to ~1 MiB); the properties do not depend on the content.
TEST_F(SnapshotTest, UnchangedGigabyteTreeReadsNothingAndAddsOnlyTheSnapshotFile) {
  constexpr int kFiles = 16;
  constexpr uint64_t kFileSize = 64ull << 20;
  const std::string anchor = dir_.Sub("anchor");
  const std::string src = anchor + "/src";
  std::filesystem::create_directories(src);
  const std::string block = RandomBytes(1 << 20, 7);
  for (int i = 0; i < kFiles; ++i) {
    int fd = open((src + "/file" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    for (uint64_t done = 0; done < kFileSize; done += block.size()) {
      ASSERT_EQ(write(fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
    }
    close(fd);
  }

  // In a private mount namespace where possible (exact checks); else at its real path, where
  // only what does not depend on /tmp's ancestors is checked.
  const bool stable = RunWithStableAnchor(cli_, anchor, {"version"}).has_value();
  const std::string path = stable ? "/mnt/src" : src;
  auto snapshot = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"snapshot", path, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::optional<RunResult> run =
        stable ? RunWithStableAnchor(cli_, anchor, args) : cli_.Run(args);
    if (!run) {
      ADD_FAILURE() << "running repo in the mount namespace stopped working";
      return JsonValue();
    }
    const RunResult& r = *run;
    EXPECT_EQ(r.exit_code, 0) << "repo snapshot: " << r.err;
    JsonValue s = RepoCli::Summary(r);
    EXPECT_TRUE(s.is_object()) << "no JSON summary: " << r.out;
    return s;
  };
  if (!stable) std::cerr << "note: no private mount namespace; tree-blob checks skipped\n";

  JsonValue first = snapshot({});
  ASSERT_EQ(first["files_new"].Int(), kFiles) << "first snapshot";
  ASSERT_EQ(first["bytes_read"].Int(), static_cast<int64_t>(kFiles * kFileSize));

  const auto data_before = cli_.FilesIn("data");
  const auto index_before = cli_.FilesIn("index");
  const auto snapshots_before = cli_.FilesIn("snapshots");
  JsonValue second = snapshot({});
  EXPECT_EQ(second["bytes_read"].Int(), 0) << "an unchanged file was read again";
  EXPECT_EQ(second["files_unchanged"].Int(), kFiles);
  EXPECT_EQ(second["files_new"].Int(), 0);
  EXPECT_EQ(second["files_changed"].Int(), 0);
  EXPECT_EQ(second["data_blobs"].Int(), 0);
  EXPECT_EQ(second["bytes_processed"].Int(), static_cast<int64_t>(kFiles * kFileSize))
      << "the second snapshot is logically full";
  EXPECT_EQ(Added(snapshots_before, cli_.FilesIn("snapshots")).size(), 1u)
      << "exactly one new snapshot file";
  if (stable) {
    EXPECT_EQ(second["tree_blobs"].Int(), 0) << "unchanged directories stored again";
    EXPECT_EQ(second["bytes_added"].Int(), 0);
    EXPECT_EQ(Added(data_before, cli_.FilesIn("data")).size(), 0u) << "a pack was written";
    EXPECT_EQ(Added(index_before, cli_.FilesIn("index")).size(), 0u) << "an index was written";
  }

  // One file changes: only it is read.
  {
    int fd = open((src + "/file7").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "!", 1), 1);
    close(fd);
  }
  JsonValue third = snapshot({});
  EXPECT_EQ(third["files_changed"].Int(), 1);
  EXPECT_EQ(third["files_unchanged"].Int(), kFiles - 1);
  EXPECT_EQ(third["bytes_read"].Int(), static_cast<int64_t>(kFileSize + 1))
      << "only the changed file must be read";
  EXPECT_EQ(third["bytes_processed"].Int(), static_cast<int64_t>(kFiles * kFileSize + 1));

  // --force reads everything again (and, all content being known, stores no data).
  JsonValue forced = snapshot({"--force"});
  EXPECT_EQ(forced["bytes_read"].Int(), static_cast<int64_t>(kFiles * kFileSize + 1));
  EXPECT_EQ(forced["files_unchanged"].Int(), 0);
  EXPECT_EQ(forced["data_blobs"].Int(), 0);
}

// Reads `path` whole (empty if it cannot be read).
std::string ReadWhole(const std::string& path) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[1 << 16];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// A directory is written and compared with its parent's listing as a stream (docs/design.md,
// "Memory bounds"): in one of 12,000 files, spread over many tree blobs, 100 files are removed,
// 100 added between the names that stay and one is changed. The second snapshot reuses exactly
// the unchanged files, and diff, find and restore see the listing whole.
TEST_F(SnapshotTest, LargeDirectoryIsMergedWithItsParentByName) {
  constexpr int kFiles = 12000;
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src + "/sub");
  auto name = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "f%05d", i);
    return std::string(buf);
  };
  for (int i = 0; i < 2 * kFiles; i += 2) WriteFile(src + "/" + name(i), "file " + name(i));
  WriteFile(src + "/sub/inner", "below");
  JsonValue first = Snapshot({src});
  ASSERT_EQ(first["files_new"].Int(), kFiles + 1);
  EXPECT_GT(first["tree_blobs"].Int(), 3) << "the listing should span several tree blobs";

  for (int k = 0; k < 100; ++k) std::filesystem::remove(src + "/" + name(k * 100));
  for (int k = 0; k < 100; ++k)
    WriteFile(src + "/" + name(k * 120 + 1), "new " + name(k * 120 + 1));
  WriteFile(src + "/" + name(7002), "changed, and longer than before");
  JsonValue second = Snapshot({src});
  EXPECT_EQ(second["files_unchanged"].Int(), kFiles - 100 - 1 + 1);  // + sub/inner
  EXPECT_EQ(second["files_new"].Int(), 100);
  EXPECT_EQ(second["files_changed"].Int(), 1);
  EXPECT_EQ(second["bytes_read"].Int(),
            static_cast<int64_t>(100 * std::string("new f00001").size() +
                                 std::string("changed, and longer than before").size()));

  RunResult diff = cli_.Run({"diff", first["snapshot_id"].Str(), second["snapshot_id"].Str()});
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  int added = 0, removed = 0, modified = 0;
  for (const std::string& line : SplitLines(diff.out)) {
    if (line.find(src + "/f") == std::string::npos) continue;
    added += line[0] == '+';
    removed += line[0] == '-';
    modified += line[0] == 'M';
  }
  EXPECT_EQ(added, 100);
  EXPECT_EQ(removed, 100);
  EXPECT_EQ(modified, 1);

  RunResult find = cli_.Run({"find", "f00121", "f00100"});
  ASSERT_EQ(find.exit_code, 0) << find.err;
  EXPECT_NE(find.out.find(src + "/f00121"), std::string::npos) << find.out;

  const std::string target = dir_.Sub("restored");
  RunResult restore = cli_.Run({"restore", "latest", "--target", target});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  size_t restored = 0;
  for (const auto& e : std::filesystem::directory_iterator(target + src)) {
    restored += e.is_regular_file();
  }
  EXPECT_EQ(restored, static_cast<size_t>(kFiles));
  EXPECT_EQ(ReadWhole(target + src + "/" + name(121)), "new " + name(121));
  EXPECT_EQ(ReadWhole(target + src + "/" + name(7002)), "changed, and longer than before");
  EXPECT_EQ(ReadWhole(target + src + "/" + name(7004)), "file " + name(7004));
  EXPECT_EQ(ReadWhole(target + src + "/sub/inner"), "below");
}

// ---- Hardlinks ---------------------------------------------------------------------------------

// Package trees and `cp -al` backups hold many links to one file: the snapshot reads such a file
// once (docs/design.md, "Snapshot pipeline"), and restore links its paths again.
TEST_F(SnapshotTest, HardlinkedFileIsReadOnceAndRestoredAsLinks) {
  constexpr size_t kSize = 20u << 20;  // more than the 16 MiB in flight: later links wait for it
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src + "/a");
  std::filesystem::create_directories(src + "/b");
  const std::string data = RandomBytes(kSize, 11);
  const std::string other = "a file of its own";
  WriteFile(src + "/a/big", data);
  WriteFile(src + "/a/other", other);
  const std::vector<std::string> links = {"a/big", "a/link1", "a/link2", "b/link3"};
  for (size_t i = 1; i < links.size(); ++i) {
    ASSERT_EQ(link((src + "/a/big").c_str(), (src + "/" + links[i]).c_str()), 0) << links[i];
  }
  const int64_t distinct = static_cast<int64_t>(kSize + other.size());
  const int64_t logical = static_cast<int64_t>(links.size() * kSize + other.size());
  const int64_t files = static_cast<int64_t>(links.size() + 1);

  JsonValue first = Snapshot({src});
  EXPECT_EQ(first["bytes_read"].Int(), distinct) << "a hardlinked file was read more than once";
  EXPECT_EQ(first["files_new"].Int(), files) << "every link is a file of the snapshot";
  EXPECT_EQ(first["bytes_processed"].Int(), logical);
  EXPECT_EQ(first["errors"].Int(), 0);

  // Each link restores to the same inode, holding the content.
  const std::string target = dir_.Sub("restore");
  RunResult r =
      cli_.Run({"restore", first["snapshot_id"].Str(), "--target", target, "--verify", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto restored = JsonValue::Parse(r.out);
  ASSERT_TRUE(restored) << r.out;
  EXPECT_EQ((*restored)["warnings"].Int(), 0) << r.out;
  EXPECT_GT((*restored)["verified_files"].Int(), 0) << r.out;
  struct stat first_link;
  ASSERT_EQ(lstat((target + src + "/" + links[0]).c_str(), &first_link), 0);
  EXPECT_EQ(first_link.st_nlink, links.size());
  for (const std::string& l : links) {
    const std::string path = target + src + "/" + l;
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << l;
    EXPECT_EQ(st.st_ino, first_link.st_ino) << l << " was not restored as a link of " << links[0];
    EXPECT_TRUE(ReadWhole(path) == data) << l << " restored with other content";
  }
  EXPECT_EQ(ReadWhole(target + src + "/a/other"), other);

  // Unchanged: every link reuses the parent's content. --force reads the inode once again.
  JsonValue second = Snapshot({src});
  EXPECT_EQ(second["bytes_read"].Int(), 0);
  EXPECT_EQ(second["files_unchanged"].Int(), files);
  JsonValue forced = Snapshot({src, "--force"});
  EXPECT_EQ(forced["bytes_read"].Int(), distinct);
  EXPECT_EQ(forced["files_changed"].Int(), files);
  EXPECT_EQ(forced["bytes_processed"].Int(), logical);
  EXPECT_EQ(forced["data_blobs"].Int(), 0);
}

// A link the walk never meets (excluded, or outside the paths) does not keep the others from
// being read, whichever comes first in the walk.
TEST_F(SnapshotTest, HardlinkWithAnExcludedLinkIsStillRead) {
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src);
  const std::string data = RandomBytes(3 << 20, 12);
  WriteFile(src + "/kept", data);
  ASSERT_EQ(link((src + "/kept").c_str(), (src + "/a.skip").c_str()), 0);  // walked before
  ASSERT_EQ(link((src + "/kept").c_str(), (src + "/z.skip").c_str()), 0);  // walked after

  JsonValue s = Snapshot({src, "--exclude", "*.skip"});
  EXPECT_EQ(s["bytes_read"].Int(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(s["files_new"].Int(), 1);
  std::set<std::string> listed = Listing();
  EXPECT_EQ(listed.count(src + "/kept"), 1u);
  EXPECT_EQ(listed.count(src + "/a.skip") + listed.count(src + "/z.skip"), 0u);
  RunResult r = cli_.Run({"dump", "latest", src + "/kept"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out == data) << "dump returned " << r.out.size() << " bytes, not the file's "
                             << data.size();
}

// ---- Streams -----------------------------------------------------------------------------------

TEST_F(SnapshotTest, StdinIsStoredAsTheNamedFileAndDumpsBack) {
  const std::string data = RandomBytes(3 << 20, 1) + "tail\n";
  JsonValue s = Snapshot({"--stdin", "--stdin-filename", "app.dump"}, 0, data);
  EXPECT_EQ(s["files_new"].Int(), 1);
  EXPECT_EQ(s["bytes_processed"].Int(), static_cast<int64_t>(data.size()));

  RunResult r = cli_.Run({"dump", "latest", "app.dump"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out == data) << "dump returned " << r.out.size() << " bytes, not the "
                             << data.size() << " given on stdin (or different ones)";
  EXPECT_EQ(Listing(), std::set<std::string>{"/app.dump"});
  JsonValue snaps = cli_.Snapshots();
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0]["paths"].Strings(), std::vector<std::string>{"app.dump"});

  // The same stream again stores no data; an empty stream is an empty file.
  s = Snapshot({"--stdin", "--stdin-filename", "app.dump"}, 0, data);
  EXPECT_EQ(s["data_blobs"].Int(), 0) << "identical stream stored again";
  Snapshot({"--stdin", "--stdin-filename", "empty.dump"}, 0, "");
  r = cli_.Run({"dump", "latest", "empty.dump"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

// Use case 8: a full-system backup names "/" itself; the root of the snapshot is then the
// filesystem's root directory. Excludes keep this test to /etc.
TEST_F(SnapshotTest, SlashBacksUpTheRootDirectory) {
  RunResult r = cli_.Run(
      {"snapshot", "/", "--exclude", "/[!e]*", "--exclude", "/e[!t]*", "--no-progress", "--json"});
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;
  JsonValue snaps = cli_.Snapshots();
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0]["paths"].Strings(), std::vector<std::string>{"/"});
  r = cli_.Run({"ls", "latest"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 5), "/etc\n") << r.out.substr(0, 200);
  r = cli_.Run({"ls", "latest", "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(SnapshotTest, StdinFilenameMustBeAPlainName) {
  RunResult r = cli_.Run({"snapshot", "--stdin", "--stdin-filename", "a/b"}, "x");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("plain file name"), std::string::npos) << r.err;
  EXPECT_EQ(cli_.FilesIn("snapshots").size(), 0u);
}

// Use case 1: `repo snapshot --stdin-from-command -- pg_dump ...` in cron. A dump that fails
// must fail the job and leave no snapshot that looks good.
TEST_F(SnapshotTest, FailingCommandFailsAndLeavesNoSnapshot) {
  Snapshot({"--stdin-from-command", "--stdin-filename", "ok", "--", "sh", "-c", "printf good"});
  const auto before = cli_.FilesIn("snapshots");
  ASSERT_EQ(before.size(), 1u);

  struct Case {
    std::string what;
    std::vector<std::string> command;
    std::string message;  // expected in stderr
  };
  const std::vector<Case> cases = {
      {"exit status 3 after some output", {"sh", "-c", "printf abc; exit 3"}, "status 3"},
      {"exit status 1 after 15 MB of output", {"sh", "-c", "seq 1 2000000; exit 1"}, "status 1"},
      {"killed by a signal", {"sh", "-c", "printf abc; kill -KILL $$"}, "signal 9"},
      {"a command that does not exist", {"/nonexistent/pg_dump"}, "status 127"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {
        "snapshot", "--stdin-from-command", "--stdin-filename", "x", "--json", "--"};
    args.insert(args.end(), c.command.begin(), c.command.end());
    RunResult r = cli_.Run(args);
    EXPECT_NE(r.exit_code, 0) << c.what << ": repo snapshot succeeded";
    EXPECT_NE(r.exit_code, 3) << c.what << ": exit code 3 means 'snapshot made, incomplete'";
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.what << ": stderr: " << r.err;
    EXPECT_NE(r.err.find("no snapshot"), std::string::npos) << c.what << ": stderr: " << r.err;
    EXPECT_FALSE(RepoCli::Summary(r).is_object()) << c.what << ": a summary was printed";
    EXPECT_EQ(cli_.FilesIn("snapshots"), before) << c.what << ": a snapshot file was written";
    std::string err;
    JsonValue snaps = cli_.Snapshots({}, &err);
    EXPECT_EQ(snaps.size(), 1u) << c.what << ": repo snapshots lists a new snapshot " << err;
  }
}

TEST_F(SnapshotTest, SucceedingCommandOutputIsStoredExactly) {
  std::string expected;
  for (int i = 1; i <= 2000000; ++i) expected += std::to_string(i) + "\n";
  JsonValue s = Snapshot({"--stdin-from-command", "--stdin-filename", "numbers.txt", "--tag", "db",
                          "--", "seq", "1", "2000000"});
  EXPECT_EQ(s["bytes_processed"].Int(), static_cast<int64_t>(expected.size()));
  RunResult r = cli_.Run({"dump", "latest", "numbers.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out == expected) << "dump returned " << r.out.size() << " bytes; the command "
                                 << "wrote " << expected.size();
  JsonValue snaps = cli_.Snapshots({"--tag", "db"});
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0]["paths"].Strings(), std::vector<std::string>{"numbers.txt"});
}

// ---- Incomplete snapshots ----------------------------------------------------------------------

// Use case 1 again: an unreadable file must not go unnoticed, but must not cost the whole
// backup either: a warning naming it, the snapshot of everything else, and exit code 3. Root
// reads everything, so `repo` runs as nobody here.
TEST(IncompleteSnapshotTest, UnreadableFileIsNamedSnapshotIsWrittenExitIsThree) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run repo as another user (nobody)";
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string work = dir.Sub("work");  // repository, password and cache: nobody's
  ASSERT_EQ(mkdir(work.c_str(), 0700), 0);
  ASSERT_EQ(chown(work.c_str(), 65534, 65534), 0);
  RepoCli cli(REPO_BINARY, work);
  ASSERT_EQ(chown(cli.password_file().c_str(), 65534, 65534), 0);
  auto as_nobody = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"--reuid=65534", "--regid=65534", "--clear-groups",
                                     cli.binary()};
    auto full = cli.Args(args);
    argv.insert(argv.end(), full.begin(), full.end());
    return RunProgram("/usr/bin/setpriv", argv, {{"HOME", work}});
  };
  RunResult r = as_nobody({"version"});
  if (r.exit_code != 0) GTEST_SKIP() << "cannot run repo as nobody via setpriv: " << r.err;
  r = as_nobody({"init", "--kdf-memory-kib", "8", "--kdf-iterations", "1"});
  ASSERT_EQ(r.exit_code, 0) << "init as nobody: " << r.err;

  const std::string src = dir.Sub("src");
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  WriteFile(src + "/readable.txt", "everyone may read this");
  WriteFile(src + "/secret.key", "only root may read this");
  ASSERT_EQ(chmod((src + "/secret.key").c_str(), 0), 0);
  // Each link of an unreadable file is tried, and named, on its own (hardlinks are otherwise
  // read once per snapshot).
  ASSERT_EQ(link((src + "/secret.key").c_str(), (src + "/secret.link").c_str()), 0);
  ASSERT_EQ(mkdir((src + "/locked").c_str(), 0755), 0);
  WriteFile(src + "/locked/inside.txt", "behind a closed door");
  ASSERT_EQ(chmod((src + "/locked").c_str(), 0), 0);

  r = as_nobody({"snapshot", src, "--json"});
  EXPECT_EQ(r.exit_code, 3) << "exit code of an incomplete snapshot; stderr: " << r.err;
  EXPECT_NE(r.err.find(src + "/secret.key"), std::string::npos)
      << "the warning must name the unreadable file; stderr: " << r.err;
  EXPECT_NE(r.err.find(src + "/secret.link"), std::string::npos)
      << "the warning must name each link of the unreadable file; stderr: " << r.err;
  EXPECT_NE(r.err.find(src + "/locked"), std::string::npos)
      << "the warning must name the unreadable directory; stderr: " << r.err;
  for (const std::string& line : SplitLines(r.err)) {
    EXPECT_EQ(line.rfind("repo:", 0), 0u) << "stderr line not starting with 'repo:': " << line;
  }
  JsonValue summary = RepoCli::Summary(r);
  ASSERT_TRUE(summary.is_object()) << "no summary: " << r.out;
  EXPECT_EQ(summary["errors"].Int(), 3) << r.out;
  EXPECT_EQ(cli.FilesIn("snapshots").size(), 1u) << "the snapshot must still be written";

  r = as_nobody({"ls", "latest", src, "--recursive"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(src + "/readable.txt"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("secret."), std::string::npos) << "unreadable file listed: " << r.out;
  EXPECT_NE(r.out.find(src + "/locked\n"), std::string::npos)
      << "the unreadable directory is kept (empty): " << r.out;
  r = as_nobody({"snapshots", "--json"});
  auto snaps = JsonValue::Parse(r.out);
  ASSERT_TRUE(snaps && snaps->size() == 1) << r.out;
  EXPECT_EQ((*snaps)[0]["summary"]["errors"].Int(), 3) << "the record says it is incomplete";
}

// ---- Excludes ----------------------------------------------------------------------------------

TEST_F(SnapshotTest, ExcludesByNameFullPathFileCachesAndSize) {
  const std::string src = dir_.Sub("src");
  for (const char* d : {"sub/deeper", "logs/old", "cache", "notacache", "docs"}) {
    std::filesystem::create_directories(src + "/" + d);
  }
  for (const char* f :
       {"keep.txt", "drop.tmp", "sub/keep.c", "sub/drop.tmp", "sub/deeper/x.tmp", "logs/app.log",
        "logs/old/app.log.1", "docs/readme", "docs/drop.bak", "sub/drop.bak", "notacache/keep"}) {
    WriteFile(src + "/" + f, std::string("content of ") + f);
  }
  WriteFile(src + "/cache/CACHEDIR.TAG",
            "Signature: 8a477f597d28d172789f06886806bc55\n# a cache directory tag\n");
  WriteFile(src + "/cache/cached.bin", "cached data");
  WriteFile(src + "/notacache/CACHEDIR.TAG", "Signature: not the right one\n");
  WriteFile(src + "/big.bin", std::string((1 << 20) + 1, 'b'));
  WriteFile(src + "/exactly1M.bin", std::string(1 << 20, 'e'));
  WriteFile(dir_.Sub("excludes"),
            "# comment line, then an empty one\n\n*.bak\n" + src + "/docs/readme\n");

  Snapshot({src, "--exclude", "*.tmp", "--exclude", src + "/logs", "--exclude-file",
            dir_.Sub("excludes"), "--exclude-caches", "--exclude-larger-than", "1M"});
  std::set<std::string> listed = Listing();
  auto has = [&](const std::string& rel) { return listed.count(src + "/" + rel) > 0; };
  for (const char* kept :
       {"keep.txt", "sub", "sub/keep.c", "sub/deeper", "docs", "cache", "notacache",
        "notacache/keep", "notacache/CACHEDIR.TAG", "exactly1M.bin"}) {
    EXPECT_TRUE(has(kept)) << kept << " was excluded but matches no rule";
  }
  const std::vector<std::pair<std::string, std::string>> dropped = {
      {"drop.tmp", "--exclude '*.tmp' (name glob)"},
      {"sub/drop.tmp", "--exclude '*.tmp' in a subdirectory"},
      {"sub/deeper/x.tmp", "--exclude '*.tmp' two levels down"},
      {"logs", "--exclude with a full path"},
      {"logs/app.log", "--exclude with a full path (contents)"},
      {"docs/drop.bak", "--exclude-file '*.bak'"},
      {"sub/drop.bak", "--exclude-file '*.bak' in a subdirectory"},
      {"docs/readme", "--exclude-file with a full path"},
      {"cache/cached.bin", "--exclude-caches"},
      {"big.bin", "--exclude-larger-than 1M"},
  };
  for (const auto& [rel, rule] : dropped)
    EXPECT_FALSE(has(rel)) << rel << " not excluded by " << rule;

  // '*' in a pattern with '/' crosses directories: one pattern for every *.c below src.
  Snapshot({src, "--exclude", src + "/*.c"});
  listed = Listing();
  EXPECT_FALSE(has("sub/keep.c")) << "'" << src << "/*.c' did not match sub/keep.c";
  EXPECT_TRUE(has("keep.txt"));
}

// --one-file-system (-x): a filesystem mounted below the path is kept as an empty directory (its
// mount point), as with tar --one-file-system and restic -x. A tmpfs is mounted in a private mount
// namespace for the snapshot only.
TEST_F(SnapshotTest, OneFileSystemSkipsWhatIsMountedBelow) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a filesystem";
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src + "/mnt");
  WriteFile(src + "/local.txt", "on the same filesystem");
  auto snapshot_with_mount = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        "mount -t tmpfs none \"$1/mnt\" && echo other > \"$1/mnt/other.txt\" && shift && "
        "exec \"$@\"",
        "sh",
        src,
        cli_.binary()};
    std::vector<std::string> args = {"snapshot", src, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const auto& a : cli_.Args(args)) argv.push_back(a);
    return RunProgram("/usr/bin/unshare", argv);
  };
  RunResult r = snapshot_with_mount({});
  if (r.exit_code != 0 && r.err.find("repo:") == std::string::npos) {
    GTEST_SKIP() << "cannot mount in a private mount namespace here: " << r.err;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> listed = Listing();
  EXPECT_EQ(listed.count(src + "/mnt/other.txt"), 1u) << "without -x the mount is backed up";
  r = snapshot_with_mount({"--one-file-system"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  listed = Listing();
  EXPECT_EQ(listed.count(src + "/local.txt"), 1u);
  EXPECT_EQ(listed.count(src + "/mnt"), 1u) << "the mount point itself is kept";
  EXPECT_EQ(listed.count(src + "/mnt/other.txt"), 0u) << "-x crossed into another filesystem";
}

TEST_F(SnapshotTest, UnreadableExcludeFileIsAUsageError) {
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src);
  RunResult r = cli_.Run({"snapshot", src, "--exclude-file", dir_.Sub("no-such-file")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no-such-file"), std::string::npos) << r.err;
  EXPECT_EQ(cli_.FilesIn("snapshots").size(), 0u);
}

// Users coming from tar, rsync, restic and .gitignore expect `--exclude '*.tmp'` to exclude
// `.session.tmp` too (repo/model/path_glob.h: a leading '.' needs no explicit match).
TEST_F(SnapshotTest, ExcludeGlobMatchesDotFilesLikeTarAndRestic) {
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src);
  WriteFile(src + "/.session.tmp", "x");
  WriteFile(src + "/a.tmp", "x");
  Snapshot({src, "--exclude", "*.tmp"});
  std::set<std::string> listed = Listing();
  EXPECT_EQ(listed.count(src + "/a.tmp"), 0u);
  EXPECT_EQ(listed.count(src + "/.session.tmp"), 0u) << "'*.tmp' did not exclude .session.tmp";
}

// Option values keep their commas: `--exclude 'a,b.txt'` is one pattern (cxxopts would split
// repeatable values at ',' by default, making it "a" and "b.txt").
TEST_F(SnapshotTest, ExcludeGlobMayContainAComma) {
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src);
  WriteFile(src + "/a,b.txt", "x");
  WriteFile(src + "/b.txt", "x");
  Snapshot({src, "--exclude", "a,b.txt"});
  std::set<std::string> listed = Listing();
  EXPECT_EQ(listed.count(src + "/a,b.txt"), 0u) << "a,b.txt not excluded";
  EXPECT_EQ(listed.count(src + "/b.txt"), 1u) << "b.txt excluded by a pattern that is not its";
}

}  // namespace
}  // namespace repo
