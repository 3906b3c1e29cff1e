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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/fs_tree.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::CompareTrees;
using test::JsonValue;
using test::Printable;
using test::RepoCli;
using test::RunResult;
using test::TempDir;

void Must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Builds a random tree under `root` from a seed. Metadata (owner, mode, times) is applied last,
// deepest directories last of all, so that nothing created later disturbs the times set.
class RandomTree {
 public:
  RandomTree(std::string root, uint64_t seed) : root_(std::move(root)), rng_(seed) {}

  void Build() {
    Must(mkdir(root_.c_str(), 0755) == 0, "mkdir " + root_);
    dirs_.push_back("");
    // Nested directories, some with odd names, and empty ones.
    const std::vector<std::string> dir_names = {"a", "b", "nested", "\xff\xfe dir", " sp ace ",
                                                "-dash", "new\nline dir", "x"};
    for (int i = 0; i < 10; ++i) {
      std::string parent = Pick(dirs_);
      std::string name = dir_names[Uniform(0, dir_names.size() - 1)] + std::to_string(i);
      MakeDir(Join(parent, name));
    }
    MakeDir("empty");
    MakeDir("empty/nested_empty");
    // A deep path: 7 directories of 200-byte names and a 255-byte file name (> 1024 bytes).
    std::string deep;
    for (int i = 0; i < 7; ++i) {
      deep = Join(deep, std::string(200 - 1, 'a' + i) + std::to_string(i));
      MakeDir(deep);
    }
    const std::string long_name = std::string(250, 'L') + "_long";  // 255 bytes
    WriteRegular(Join(deep, long_name), RandomBytes(Uniform(0, 5000)));

    // Regular files: empty, small, medium, a few MiB; random (incompressible) or text.
    const std::vector<std::string> odd = {" spaced name ", "new\nline", "tab\there",
                                          "-leading-dash", "--", "\xff\xfe", "\xc3\xa9t\xc3\xa9",
                                          "*?[glob]", "back\\slash", ".hidden", "..dots..",
                                          std::string(255, 'n')};
    for (const std::string& name : odd) WriteRegular(Join(Pick(dirs_), name), RandomContent());
    for (int i = 0; i < 25; ++i) {
      WriteRegular(Join(Pick(dirs_), "f" + std::to_string(i)), RandomContent());
    }
    WriteRegular("zero_length", "");
    for (int i = 0; i < 2; ++i) {
      WriteRegular("big" + std::to_string(i), RandomBytes(Uniform(1 << 20, 3 << 20)));
    }

    // Sparse files: islands of data in holes, all hole, data only at the start or the end.
    {
      const std::string p = "sparse_islands";
      int fd = Create(p);
      const uint64_t size = (64ull << 20) + Uniform(0, 100000);
      Must(ftruncate(fd, static_cast<off_t>(size)) == 0, "ftruncate");
      for (int i = 0; i < 4; ++i) {
        std::string data = RandomBytes(Uniform(1, 100000));
        uint64_t at = Uniform(0, size - data.size());
        Must(pwrite(fd, data.data(), data.size(), static_cast<off_t>(at)) ==
                 static_cast<ssize_t>(data.size()),
             "pwrite");
      }
      close(fd);
      sparse_.push_back(p);
    }
    {
      int fd = Create("sparse_all_hole");
      Must(ftruncate(fd, 10 << 20) == 0, "ftruncate");
      close(fd);
      sparse_.push_back("sparse_all_hole");
    }
    {
      int fd = Create("sparse_tail");
      std::string data = RandomBytes(5000);
      Must(pwrite(fd, data.data(), data.size(), 20 << 20) == 5000, "pwrite");
      close(fd);
      sparse_.push_back("sparse_tail");
    }
    {
      int fd = Create("sparse_head");
      std::string data = RandomBytes(70000);
      Must(pwrite(fd, data.data(), data.size(), 0) == 70000, "pwrite");
      Must(ftruncate(fd, 30 << 20) == 0, "ftruncate");
      close(fd);
      sparse_.push_back("sparse_head");
    }

    // Symlinks: relative, absolute, dangling, to a directory, with an odd target.
    MakeSymlink("../f1", Join(Pick(dirs_), "rel_link"));
    MakeSymlink("/etc/passwd", "abs_link");
    MakeSymlink("does/not/exist", "dangling_link");
    MakeSymlink("nested_empty", "empty/link_to_dir");
    MakeSymlink("odd \xff target\nwith newline", "odd_link");

    // Hardlinks: a pair across directories, a triple, one with an odd name.
    MakeLink(Pick(files_), Join(Pick(dirs_), "hardlink_pair"));
    std::string triple = Pick(files_);
    MakeLink(triple, "hardlink_triple_1");
    MakeLink(triple, Join(Pick(dirs_), "hardlink_triple_2"));
    MakeLink(Pick(files_), "hard\nlink \xff");

    // FIFOs and, where allowed, a character device.
    for (int i = 0; i < 2; ++i) {
      std::string p = Join(Pick(dirs_), "fifo" + std::to_string(i));
      Must(mkfifo(Full(p).c_str(), 0644) == 0, "mkfifo " + p);
      others_.push_back(p);
    }
    if (mknod(Full("chardev").c_str(), S_IFCHR | 0640, makedev(1, 3)) == 0) {
      others_.push_back("chardev");
    }

    // Xattrs in the user namespace on some files and directories: binary values, empty, long.
    for (const std::string& f : files_) {
      if (Uniform(0, 2) == 0) SetXattrs(f);
    }
    for (const std::string& d : dirs_) {
      if (Uniform(0, 2) == 0) SetXattrs(d);
    }

    // Owners, modes and times: files and other nodes first, then directories deepest first.
    const std::vector<mode_t> file_modes = {0644, 0600, 0755, 0000, 0777, 04755, 02755,
                                            06711, 0444, 01644, 04000};
    const std::vector<mode_t> dir_modes = {0755, 0700, 01777, 02775, 0555, 0000, 03777};
    for (const std::string& f : files_) {
      SetOwner(f);
      Must(chmod(Full(f).c_str(), file_modes[Uniform(0, file_modes.size() - 1)]) == 0, "chmod");
      SetTime(f);
    }
    for (const std::string& o : others_) {
      SetOwner(o);
      Must(chmod(Full(o).c_str(), Uniform(0, 1) ? 0600 : 0666) == 0, "chmod");
      SetTime(o);
    }
    for (const std::string& l : links_) {
      SetOwner(l);
      SetTime(l);
    }
    std::vector<std::string> dirs = dirs_;
    std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
      return std::count(a.begin(), a.end(), '/') + !a.empty() >
             std::count(b.begin(), b.end(), '/') + !b.empty();
    });
    for (const std::string& d : dirs) {
      SetOwner(d);
      // Any mode, 000 included: restore must still fill the directory (it runs as root).
      mode_t m = dir_modes[Uniform(0, dir_modes.size() - 1)];
      Must(chmod(Full(d).c_str(), m) == 0, "chmod " + Printable(d));
      SetTime(d);
    }
  }

  const std::vector<std::string>& sparse() const { return sparse_; }
  size_t regular_paths() const { return files_.size() + hardlinks_; }

 private:
  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  const std::string& Pick(const std::vector<std::string>& v) { return v[Uniform(0, v.size() - 1)]; }
  static std::string Join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
  }
  std::string Full(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  std::string RandomBytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t r = rng_();
      std::memcpy(&s[i], &r, std::min<size_t>(8, n - i));
    }
    return s;
  }
  std::string RandomContent() {
    size_t size;
    switch (Uniform(0, 4)) {
      case 0: size = Uniform(0, 1); break;
      case 1: size = Uniform(2, 4096); break;
      case 2: size = Uniform(4097, 200000); break;
      default: size = Uniform(200001, 600000); break;
    }
    if (Uniform(0, 1)) return RandomBytes(size);
    std::string text;  // compressible, with repeats the chunker can deduplicate
    while (text.size() < size) text += "line " + std::to_string(Uniform(0, 50)) + " of text\n";
    text.resize(size);
    return text;
  }
  void MakeDir(const std::string& rel) {
    Must(mkdir(Full(rel).c_str(), 0755) == 0, "mkdir " + Printable(rel));
    dirs_.push_back(rel);
  }
  int Create(const std::string& rel) {
    int fd = open(Full(rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    Must(fd >= 0, "create " + Printable(rel));
    files_.push_back(rel);
    return fd;
  }
  void WriteRegular(const std::string& rel, const std::string& content) {
    int fd = Create(rel);
    Must(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()),
         "write " + Printable(rel));
    close(fd);
  }
  void MakeSymlink(const std::string& target, const std::string& rel) {
    Must(symlink(target.c_str(), Full(rel).c_str()) == 0, "symlink " + Printable(rel));
    links_.push_back(rel);
  }
  void MakeLink(const std::string& existing, const std::string& rel) {
    Must(link(Full(existing).c_str(), Full(rel).c_str()) == 0, "link " + Printable(rel));
    ++hardlinks_;  // metadata is shared with `existing`
  }
  void SetXattrs(const std::string& rel) {
    const std::string p = Full(rel);
    std::string binary = RandomBytes(Uniform(1, 64));
    binary[0] = '\0';
    Must(lsetxattr(p.c_str(), "user.binary", binary.data(), binary.size(), 0) == 0, "setxattr");
    Must(lsetxattr(p.c_str(), "user.empty", "", 0, 0) == 0, "setxattr");
    std::string text = "value of " + Printable(rel).substr(0, 40);
    Must(lsetxattr(p.c_str(), "user.comment", text.data(), text.size(), 0) == 0, "setxattr");
    if (Uniform(0, 1)) {
      std::string big(Uniform(1000, 2000), 'x');
      Must(lsetxattr(p.c_str(), "user.long", big.data(), big.size(), 0) == 0, "setxattr");
    }
  }
  void SetOwner(const std::string& rel) {
    // root; no name (12345 / 54321); a named user (nobody) and group (nogroup).
    static const std::pair<uid_t, gid_t> kOwners[] = {
        {0, 0}, {12345, 12345}, {12345, 0}, {0, 54321}, {65534, 65534}};
    auto [uid, gid] = kOwners[Uniform(0, 4)];
    Must(lchown(Full(rel).c_str(), uid, gid) == 0, "lchown " + Printable(rel));
  }
  void SetTime(const std::string& rel) {
    timespec t[2];
    t[1].tv_sec = static_cast<time_t>(Uniform(1000000000, 2000000000));
    t[1].tv_nsec = static_cast<long>(Uniform(0, 999999999));
    t[0] = t[1];
    Must(utimensat(AT_FDCWD, Full(rel).c_str(), t, AT_SYMLINK_NOFOLLOW) == 0,
         "utimensat " + Printable(rel));
  }

  std::string root_;
  std::mt19937_64 rng_;
  std::vector<std::string> dirs_, files_, links_, others_, sparse_;
  size_t hardlinks_ = 0;
};

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

// BUG/limitation (repo/archiver.cc and repo/restorer.cc, repo/fs_meta.cc: every syscall takes
// the full path): a path of PATH_MAX (4096) bytes or more fails with ENAMETOOLONG, so the snapshot
// warns "cannot stat ...: File name too long", exits 3 and leaves that subtree out; restore could
// not recreate it either. tar, rsync and restic back such trees up (openat-style walks relative to
// a directory fd). Found by this test; DISABLED until the walk and the restore use *at() calls.
TEST(LongPathTest, DISABLED_PathsLongerThanPathMaxRoundTrip) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  RepoCli cli(REPO_BINARY, dir.path());
  ASSERT_EQ(cli.Init().exit_code, 0);
  const std::string src = dir.Sub("src");
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  int fd = open(src.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 22; ++i) {  // 22 x 200 bytes: the deepest paths exceed 4096 bytes
    const std::string n(199, static_cast<char>('a' + i % 26));
    ASSERT_EQ(mkdirat(fd, n.c_str(), 0755), 0);
    int next = openat(fd, n.c_str(), O_RDONLY | O_DIRECTORY);
    close(fd);
    ASSERT_GE(next, 0);
    fd = next;
  }
  int file = openat(fd, "deep_file", O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(file, 0);
  ASSERT_EQ(write(file, "deep", 4), 4);
  close(file);
  close(fd);
  RunResult r = cli.Run({"snapshot", src, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  EXPECT_EQ(RepoCli::Summary(r)["files_new"].Int(), 1) << "the deep file was left out";
  r = cli.Run({"restore", "latest", "--target", dir.Sub("restore")});
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  // (The restored tree is not compared here: CaptureTree uses full paths too.)
}

// The comparison itself, checked against a tool that is not repo: `cp -a` of a random tree
// compares equal, and each kind of change to the copy is reported.
TEST(CompareTreesTest, CpArchiveCopyIsIdenticalAndChangesAreFound) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: the tree has files of other owners";
  TempDir dir;
  const std::string src = dir.Sub("src"), copy = dir.Sub("copy");
  try {
    RandomTree(src, 99).Build();
  } catch (const std::exception& e) {
    FAIL() << "building the random tree failed: " << e.what();
  }
  RunResult r = test::RunProgram("/bin/cp", {"-a", "--sparse=always", src, copy});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = CompareTrees(src, copy);
  ASSERT_TRUE(diffs.empty()) << Join(diffs);

  auto expect_found = [&](const std::string& what, const std::string& needle) {
    auto d = CompareTrees(src, copy);
    bool found = false;
    for (const auto& line : d) found = found || line.find(needle) != std::string::npos;
    EXPECT_TRUE(found) << what << " was not reported; differences:\n" << Join(d);
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

}  // namespace
}  // namespace repo
