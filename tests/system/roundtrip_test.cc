// Snapshot -> restore round trip, as a property over random trees: for several fixed seeds, a tree
// holding every kind of file and metadata a full-system backup meets (use case 8) is snapshotted
// and restored with --verify into an empty directory, and the result must be identical to the
// source as seen by lstat/readlink/getxattr and by reading the files (tests/support/fs_tree.h),
// not by repo itself: type, mode (incl. setuid/setgid/sticky), owner (incl. ids with no name),
// size, content, mtime in ns (directories too), symlink targets, xattrs, hardlink grouping and
// sparse holes. Then an unchanged second snapshot must read nothing and restore the same way,
// also over the first restore with --overwrite.
//
// Runs as root (owners, devices); without root the test is skipped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/fs_tree.h"
#include "tests/support/random_tree.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::AtName;
using test::CompareTrees;
using test::JsonValue;
using test::Printable;
using test::RandomTree;
using test::RepoCli;
using test::RunResult;
using test::TempDir;

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "  " + l + "\n";
  return s;
}

// The generator made what the property is about (so a passing round trip means something).
void ExpectEveryKind(const std::string& root) {
  std::map<std::string, test::FsEntry> entries;
  try {
    entries = test::CaptureTree(root);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  int dirs = 0, files = 0, symlinks = 0, fifos = 0, linked = 0, xattrs = 0, setid = 0, sticky = 0,
      nameless = 0, sparse = 0, empty = 0, mode000 = 0, ns = 0;
  size_t longest = 0;
  for (const auto& [rel, e] : entries) {
    dirs += S_ISDIR(e.mode);
    files += S_ISREG(e.mode);
    symlinks += S_ISLNK(e.mode);
    fifos += S_ISFIFO(e.mode);
    linked += S_ISREG(e.mode) && e.nlink > 1;
    xattrs += !e.xattrs.empty();
    setid += (e.mode & (S_ISUID | S_ISGID)) != 0;
    sticky += (e.mode & S_ISVTX) != 0;
    nameless += e.uid == 12345 || e.gid == 54321;
    sparse += S_ISREG(e.mode) && e.blocks * 512 < e.size;
    empty += S_ISREG(e.mode) && e.size == 0;
    mode000 += (e.mode & 07777) == 0;
    ns += e.mtime_ns % 1000 != 0;
    longest = std::max(longest, rel.size());
  }
  EXPECT_GE(dirs, 20);
  EXPECT_GE(files, 40);
  EXPECT_GE(symlinks, 5);
  EXPECT_GE(fifos, 2);
  EXPECT_GE(linked, 4);
  EXPECT_GT(xattrs, 0);
  EXPECT_GT(setid, 0);
  EXPECT_GT(sticky, 0);
  EXPECT_GT(nameless, 0);
  EXPECT_GE(sparse, 3);
  EXPECT_GT(empty, 0);
  EXPECT_GT(mode000, 0);
  EXPECT_GT(ns, 0);
  EXPECT_GT(longest, 1024u);
  EXPECT_GE(longest, static_cast<size_t>(PATH_MAX)) << "no path longer than PATH_MAX";
}

class RoundTripTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the tree has files of other owners";
    RunResult r = cli_.Init();
    ASSERT_EQ(r.exit_code, 0) << "repo init failed: " << r.err;
  }

  // Restores `snapshot` into `target` with --verify (and `extra` options); expects success with
  // no warnings.
  void Restore(const std::string& snapshot, const std::string& target,
               std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"restore", snapshot, "--target", target, "--verify", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = cli_.Run(args);
    ASSERT_EQ(r.exit_code, 0) << "restore of " << snapshot << " failed: " << r.err;
    EXPECT_EQ(r.err, "") << "restore printed warnings";
    auto summary = JsonValue::Parse(r.out);
    ASSERT_TRUE(summary) << "restore --json printed no JSON: " << r.out;
    EXPECT_EQ((*summary)["warnings"].Int(), 0) << r.out;
    EXPECT_GT((*summary)["verified_files"].Int(), 0) << r.out;
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
};

TEST_P(RoundTripTest, RestoreIsIdenticalToTheSource) {
  const std::string src = dir_.Sub("src");
  RandomTree tree(src, GetParam());
  try {
    tree.Build();
  } catch (const std::exception& e) {
    FAIL() << "building the random tree failed: " << e.what();
  }

  ExpectEveryKind(src);

  RunResult r = cli_.Run({"snapshot", src, "--json"});
  ASSERT_EQ(r.exit_code, 0) << "snapshot failed: " << r.err;
  EXPECT_EQ(r.err, "") << "snapshot of a readable tree printed warnings";
  JsonValue first = RepoCli::Summary(r);
  ASSERT_TRUE(first.is_object()) << "no summary in: " << r.out;
  EXPECT_EQ(first["errors"].Int(), 0);
  EXPECT_EQ(first["files_new"].Int(), static_cast<int64_t>(tree.regular_paths()))
      << "every regular file path (hardlinks included) is a new file";

  const std::string target = dir_.Sub("restore");
  Restore(first["snapshot_id"].Str(), target);
  auto diffs = CompareTrees(src, target + src);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences after restore (seed " << GetParam()
                             << "):\n"
                             << Join(diffs);

  // Holes stay holes: the sparse files take (about) as little space as in the source.
  for (const std::string& s : tree.sparse()) {
    struct stat st;
    ASSERT_EQ(lstat((target + src + "/" + s).c_str(), &st), 0) << s;
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20)
        << s << " of " << st.st_size << " bytes was restored with its holes filled";
  }

  // An unchanged second snapshot reads nothing, and its restore (which reuses the parent's
  // content lists) is as good: into an empty directory, and over the first restore.
  r = cli_.Run({"snapshot", src, "--json"});
  ASSERT_EQ(r.exit_code, 0) << "second snapshot failed: " << r.err;
  JsonValue second = RepoCli::Summary(r);
  EXPECT_EQ(second["bytes_read"].Int(), 0) << r.out;
  EXPECT_EQ(second["files_new"].Int() + second["files_changed"].Int(), 0) << r.out;
  EXPECT_EQ(second["files_unchanged"].Int(), static_cast<int64_t>(tree.regular_paths())) << r.out;
  EXPECT_EQ(second["data_blobs"].Int(), 0) << r.out;

  const std::string target2 = dir_.Sub("restore2");
  Restore(second["snapshot_id"].Str().substr(0, 8), target2);
  diffs = CompareTrees(src, target2 + src);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences after restoring the second "
                             << "snapshot (seed " << GetParam() << "):\n"
                             << Join(diffs);

  Restore("latest", target, {"--overwrite"});
  diffs = CompareTrees(src, target + src);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences after restoring over the first "
                             << "restore with --overwrite (seed " << GetParam() << "):\n"
                             << Join(diffs);
}

INSTANTIATE_TEST_SUITE_P(Seeds, RoundTripTest, ::testing::Values(1, 2, 3, 4, 5));

// Paths of PATH_MAX (4096) bytes and more, which tar, rsync and restic back up: the walk and the
// restore name files relative to open directories, so a tree that deep round-trips identically
// (every kind of entry in the deep directory, a hardlink with one end shallow), a long path is
// selected by --include, and a snapshot root may itself be that long.
TEST(LongPathTest, PathsLongerThanPathMaxRoundTrip) {
  TempDir dir;
  RepoCli cli(REPO_BINARY, dir.path());
  ASSERT_EQ(cli.Init().exit_code, 0);
  const std::string src = dir.Sub("src");
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  std::string deep;  // relative to src; 22 x 200 bytes
  for (int i = 0; i < 22; ++i) {
    deep += (deep.empty() ? "" : "/") + std::string(199, static_cast<char>('a' + i % 26));
    AtName at = test::OpenParent(src, deep);
    ASSERT_EQ(mkdirat(at.dir, at.name.c_str(), 0755), 0) << "mkdir at level " << i;
  }
  const std::string deep_abs = src + "/" + deep;
  ASSERT_GT(deep_abs.size(), static_cast<size_t>(PATH_MAX));
  {
    AtName at = test::OpenParent(src, deep);
    test::Fd d(openat(at.dir, at.name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_GE(d.get(), 0);
    const int fd = d.get();
    test::Fd file(openat(fd, "deep_file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    ASSERT_GE(file.get(), 0);
    std::string content;
    for (int i = 0; i < 5000; ++i) content += "line " + std::to_string(i) + " of a deep file\n";
    ASSERT_EQ(write(file.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    ASSERT_EQ(linkat(fd, "deep_file", fd, "deep_hardlink", 0), 0);
    AtName top = test::OpenParent(src, "shallow_hardlink");
    ASSERT_EQ(linkat(fd, "deep_file", top.dir, top.name.c_str(), 0), 0);
    ASSERT_EQ(symlinkat("deep_file", fd, "deep_symlink"), 0);
    ASSERT_EQ(mkdirat(fd, "deep_empty", 0750), 0);
    ASSERT_EQ(mkfifoat(fd, "deep_fifo", 0600), 0);
    const std::string xfile = test::XattrName(fd, "deep_file");
    ASSERT_EQ(lsetxattr(xfile.c_str(), "user.deep", "value\0binary", 12, 0), 0);
    const std::string xdir = test::XattrName(fd, "deep_empty");
    ASSERT_EQ(lsetxattr(xdir.c_str(), "user.dir", "", 0, 0), 0);
    timespec t[2] = {{1500000000, 123456789}, {1500000000, 123456789}};
    for (const char* name : {"deep_file", "deep_symlink", "deep_empty", "deep_fifo"}) {
      ASSERT_EQ(utimensat(fd, name, t, AT_SYMLINK_NOFOLLOW), 0) << name;
    }
    ASSERT_EQ(futimens(fd, t), 0);  // the deep directory itself, after its entries
  }

  RunResult r = cli.Run({"snapshot", src, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  EXPECT_EQ(r.err, "") << "snapshot printed warnings";
  EXPECT_EQ(RepoCli::Summary(r)["files_new"].Int(), 3) << "a deep file was left out";

  // `ls` prints paths from the snapshot, whatever their length.
  r = cli.Run({"ls", "latest", "--recursive"});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  EXPECT_NE(r.out.find(deep_abs + "/deep_symlink"), std::string::npos);

  const std::string target = dir.Sub("restore");
  r = cli.Run({"restore", "latest", "--target", target, "--verify", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  EXPECT_EQ(r.err, "") << "restore printed warnings";
  auto diffs = CompareTrees(src, target + src);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences after restore:\n" << Join(diffs);

  // One long path selected by --include: only it and its directories are restored.
  const std::string only = dir.Sub("only");
  r = cli.Run({"restore", "latest", "--target", only, "--include", deep_abs + "/deep_symlink"});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  std::map<std::string, test::FsEntry> restored;
  try {
    restored = test::CaptureTree(only + deep_abs);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  ASSERT_EQ(restored.size(), 2u) << "the deep directory and the symlink, nothing else";
  EXPECT_EQ(restored["deep_symlink"].link_target, "deep_file");
  EXPECT_EQ(restored["deep_symlink"].mtime_ns, int64_t{1500000000123456789});

  // A snapshot root longer than PATH_MAX (without the shallow link, so the subtree holds every
  // link of its hardlink group).
  ASSERT_EQ(unlink((src + "/shallow_hardlink").c_str()), 0);
  r = cli.Run({"snapshot", deep_abs, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  EXPECT_EQ(r.err, "") << "snapshot printed warnings";
  EXPECT_EQ(RepoCli::Summary(r)["files_new"].Int(), 2);
  const std::string target2 = dir.Sub("restore2");
  r = cli.Run({"restore", "latest", "--target", target2, "--verify"});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  diffs = CompareTrees(deep_abs, target2 + deep_abs);
  EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences after restoring a long root:\n"
                             << Join(diffs);
}

// A tree deeper than the open-file limit lets the walk hold directories: the directory where
// the walk stops is named in a warning, left empty, and the rest is backed up (exit 3).
TEST(LongPathTest, DeeperThanTheOpenFileLimitIsWarnedAbout) {
  TempDir dir;
  RepoCli cli(REPO_BINARY, dir.path());
  ASSERT_EQ(cli.Init().exit_code, 0);
  const std::string src = dir.Sub("src");
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  test::WriteFile(src + "/shallow", "kept");
  std::string deep;
  for (int i = 0; i < 100; ++i) {
    deep += (deep.empty() ? "" : "/") + std::string("d") + std::to_string(i);
    AtName at = test::OpenParent(src, deep);
    ASSERT_EQ(mkdirat(at.dir, at.name.c_str(), 0755), 0);
  }
  // 100 descriptors: the walk may hold (100 - 50) / 2 = 25 directories.
  RunResult r = test::RunProgram("/bin/sh", [&] {
    std::vector<std::string> args = {"-c", "ulimit -n 100 && exec \"$@\"", "sh", cli.binary()};
    for (const std::string& a : cli.Args({"snapshot", src, "--json"})) args.push_back(a);
    return args;
  }());
  EXPECT_EQ(r.exit_code, 3) << r.err.substr(0, 300);
  EXPECT_NE(r.err.find("nested more than 25 directories deep"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ulimit -n"), std::string::npos) << r.err;
  EXPECT_EQ(RepoCli::Summary(r)["files_new"].Int(), 1);
  r = cli.Run({"ls", "latest", "--recursive"});
  EXPECT_NE(r.out.find(src + "/shallow"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/d10/d11/d12"), std::string::npos) << "the walk stopped too early";
  EXPECT_EQ(r.out.find("/d30"), std::string::npos) << "the walk went deeper than its limit";
}

// Expects CompareTrees(a, b) to report a difference whose line contains `needle`.
void ExpectReported(const std::string& a, const std::string& b, const std::string& what,
                    const std::string& needle) {
  auto d = CompareTrees(a, b);
  bool found = false;
  for (const auto& line : d) found = found || line.find(needle) != std::string::npos;
  EXPECT_TRUE(found) << what << " was not reported; differences:\n" << Join(d);
}

// The comparison itself, checked against a tool that is not repo: `cp -a` of a random tree
// compares equal, and each kind of change to the copy is reported. (Without the branch deeper
// than PATH_MAX: GNU cp 9.1, and tar 1.34 when extracting, fail on it with ENAMETOOLONG.)
TEST(CompareTreesTest, CpArchiveCopyIsIdenticalAndChangesAreFound) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: the tree has files of other owners";
  TempDir dir;
  const std::string src = dir.Sub("src"), copy = dir.Sub("copy");
  try {
    RandomTree(src, 99, /*deep_branch=*/false).Build();
  } catch (const std::exception& e) {
    FAIL() << "building the random tree failed: " << e.what();
  }
  RunResult r = test::RunProgram("/bin/cp", {"-a", "--sparse=always", src, copy});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = CompareTrees(src, copy);
  ASSERT_TRUE(diffs.empty()) << Join(diffs);

  auto expect_found = [&](const std::string& what, const std::string& needle) {
    ExpectReported(src, copy, what, needle);
  };
  const std::string f = copy + "/zero_length";
  timespec t[2] = {{1234567890, 1}, {1234567890, 1}};
  ASSERT_EQ(utimensat(AT_FDCWD, f.c_str(), t, 0), 0);
  expect_found("an mtime change", "zero_length: mtime_ns");
  ASSERT_EQ(lchown(f.c_str(), 4242, 4242), 0);
  expect_found("an owner change", "zero_length: uid");
  ASSERT_EQ(lsetxattr(f.c_str(), "user.new", "v", 1, 0), 0);
  expect_found("a new xattr", "zero_length: xattrs");
  test::WriteFile(copy + "/big0", "short");
  expect_found("a content change", "big0: size");
  ASSERT_EQ(unlink((copy + "/abs_link").c_str()), 0);
  expect_found("a missing symlink", "missing in restore: abs_link");
  ASSERT_EQ(unlink((copy + "/hardlink_triple_1").c_str()), 0);
  test::WriteFile(copy + "/hardlink_triple_1", "");
  expect_found("a broken hardlink", "hardlink group");
  int fd = open((copy + "/sparse_all_hole").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::string ones(1 << 20, '\0');
  for (int i = 0; i < 10; ++i) ASSERT_EQ(write(fd, ones.data(), ones.size()), 1 << 20);
  close(fd);
  expect_found("a filled hole", "sparse_all_hole: allocated");
}

// The comparison beyond PATH_MAX, where no copying tool here reaches: two builds of one seed
// compare equal, and each kind of change deep in the second is reported.
TEST(CompareTreesTest, ChangesBeyondPathMaxAreFound) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: the tree has files of other owners";
  TempDir dir;
  const std::string src = dir.Sub("src"), copy = dir.Sub("copy");
  try {
    RandomTree(src, 7).Build();
    RandomTree(copy, 7).Build();
  } catch (const std::exception& e) {
    FAIL() << "building the random tree failed: " << e.what();
  }
  auto diffs = CompareTrees(src, copy);
  ASSERT_TRUE(diffs.empty()) << Join(diffs);

  auto expect_found = [&](const std::string& what, const std::string& needle) {
    ExpectReported(src, copy, what, needle);
  };
  std::string deep = "very_deep";
  for (int i = 0; i < 22; ++i) {
    deep += "/" + std::string(197, static_cast<char>('A' + i)) + std::to_string(10 + i);
  }
  ASSERT_GT(copy.size() + deep.size(), static_cast<size_t>(PATH_MAX));
  AtName at = test::OpenParent(copy, deep + "/file");
  ASSERT_GE(at.dir, 0);
  timespec t[2] = {{1234567890, 1}, {1234567890, 1}};
  ASSERT_EQ(utimensat(at.dir, "symlink", t, AT_SYMLINK_NOFOLLOW), 0);
  expect_found("an mtime change", "symlink: mtime_ns");
  ASSERT_EQ(fchownat(at.dir, "fifo", 4242, 4242, AT_SYMLINK_NOFOLLOW), 0);
  expect_found("an owner change", "fifo: uid");
  ASSERT_EQ(lsetxattr(test::XattrName(at.dir, "empty_dir").c_str(), "user.new", "v", 1, 0), 0);
  expect_found("a new xattr", "empty_dir: xattrs");
  {
    test::Fd f(openat(at.dir, "file", O_WRONLY | O_CLOEXEC));
    ASSERT_GE(f.get(), 0);
    ASSERT_EQ(pwrite(f.get(), "\x01\x02", 2, 0), 2);  // same size, other bytes (or more)
  }
  expect_found("a content change", "/file: ");
  ASSERT_EQ(unlinkat(at.dir, "hardlink", 0), 0);
  ASSERT_EQ(linkat(at.dir, "symlink", at.dir, "hardlink", 0), 0);  // now a link to the symlink
  expect_found("a broken hardlink", "hardlink: ");
}

}  // namespace
}  // namespace repo
