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
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::AtName;
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
  // `deep_branch`: include the branch deeper than PATH_MAX (cp -a cannot copy it).
  RandomTree(std::string root, uint64_t seed, bool deep_branch = true)
      : root_(std::move(root)), rng_(seed), deep_branch_(deep_branch) {}

  void Build() {
    Must(mkdir(root_.c_str(), 0755) == 0, "mkdir " + root_);
    dirs_.push_back("");
    // Nested directories, some with odd names, and empty ones.
    const std::vector<std::string> dir_names = {
        "a", "b", "nested", "\xff\xfe dir", " sp ace ", "-dash", "new\nline dir", "x"};
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
    const std::vector<std::string> odd = {" spaced name ",     "new\nline", "tab\there",
                                          "-leading-dash",     "--",        "\xff\xfe",
                                          "\xc3\xa9t\xc3\xa9", "*?[glob]",  "back\\slash",
                                          ".hidden",           "..dots..",  std::string(255, 'n')};
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

    // A branch deeper than PATH_MAX (4096 bytes), as tar and restic back up: 22 directories of
    // 200-byte names holding a file with xattrs, a hardlink to it, a symlink, a fifo and an empty
    // directory. Made last so that the random placements above stay shallow; the metadata below
    // covers it like the rest.
    if (deep_branch_) {
      std::string very_deep = "very_deep";
      MakeDir(very_deep);
      for (int i = 0; i < 22; ++i) {
        very_deep =
            Join(very_deep, std::string(197, static_cast<char>('A' + i)) + std::to_string(10 + i));
        MakeDir(very_deep);
      }
      const std::string deep_file = Join(very_deep, "file");
      WriteRegular(deep_file, RandomContent());
      SetXattrs(deep_file);
      MakeLink(deep_file, Join(very_deep, "hardlink"));
      MakeSymlink("file", Join(very_deep, "symlink"));
      MakeDir(Join(very_deep, "empty_dir"));
      {
        const std::string fifo = Join(very_deep, "fifo");
        AtName at = At(fifo);
        Must(mkfifoat(at.dir, at.name.c_str(), 0644) == 0, "mkfifo " + fifo);
        others_.push_back(fifo);
      }
    }

    // Xattrs in the user namespace on some files and directories: binary values, empty, long.
    for (const std::string& f : files_) {
      if (Uniform(0, 2) == 0) SetXattrs(f);
    }
    for (const std::string& d : dirs_) {
      if (Uniform(0, 2) == 0) SetXattrs(d);
    }

    // Owners, modes and times: files and other nodes first, then directories deepest first.
    const std::vector<mode_t> file_modes = {0644,  0600,  0755, 0000,  0777, 04755,
                                            02755, 06711, 0444, 01644, 04000};
    const std::vector<mode_t> dir_modes = {0755, 0700, 01777, 02775, 0555, 0000, 03777};
    for (const std::string& f : files_) {
      SetOwner(f);
      Chmod(f, file_modes[Uniform(0, file_modes.size() - 1)]);
      SetTime(f);
    }
    for (const std::string& o : others_) {
      SetOwner(o);
      Chmod(o, Uniform(0, 1) ? 0600 : 0666);
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
      Chmod(d, m);
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
  // `rel` for *at() calls: paths may be longer than PATH_MAX.
  AtName At(const std::string& rel) const {
    AtName at = test::OpenParent(root_, rel);
    Must(at.dir != -1, "opening the directory of " + Printable(rel));
    return at;
  }

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
      case 0:
        size = Uniform(0, 1);
        break;
      case 1:
        size = Uniform(2, 4096);
        break;
      case 2:
        size = Uniform(4097, 200000);
        break;
      default:
        size = Uniform(200001, 600000);
        break;
    }
    if (Uniform(0, 1)) return RandomBytes(size);
    std::string text;  // compressible, with repeats the chunker can deduplicate
    while (text.size() < size) text += "line " + std::to_string(Uniform(0, 50)) + " of text\n";
    text.resize(size);
    return text;
  }
  void MakeDir(const std::string& rel) {
    AtName at = At(rel);
    Must(mkdirat(at.dir, at.name.c_str(), 0755) == 0, "mkdir " + Printable(rel));
    dirs_.push_back(rel);
  }
  int Create(const std::string& rel) {
    AtName at = At(rel);
    int fd = openat(at.dir, at.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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
    AtName at = At(rel);
    Must(symlinkat(target.c_str(), at.dir, at.name.c_str()) == 0, "symlink " + Printable(rel));
    links_.push_back(rel);
  }
  void MakeLink(const std::string& existing, const std::string& rel) {
    AtName from = At(existing), at = At(rel);
    Must(linkat(from.dir, from.name.c_str(), at.dir, at.name.c_str(), 0) == 0,
         "link " + Printable(rel));
    ++hardlinks_;  // metadata is shared with `existing`
  }
  void SetXattrs(const std::string& rel) {
    AtName at = At(rel);
    const std::string p = test::XattrName(at.dir, at.name);
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
  void Chmod(const std::string& rel, mode_t mode) {
    AtName at = At(rel);
    Must(fchmodat(at.dir, at.name.c_str(), mode, 0) == 0, "chmod " + Printable(rel));
  }
  void SetOwner(const std::string& rel) {
    // root; no name (12345 / 54321); a named user (nobody) and group (nogroup).
    static const std::pair<uid_t, gid_t> kOwners[] = {
        {0, 0}, {12345, 12345}, {12345, 0}, {0, 54321}, {65534, 65534}};
    auto [uid, gid] = kOwners[Uniform(0, 4)];
    AtName at = At(rel);
    Must(fchownat(at.dir, at.name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0,
         "lchown " + Printable(rel));
  }
  void SetTime(const std::string& rel) {
    timespec t[2];
    t[1].tv_sec = static_cast<time_t>(Uniform(1000000000, 2000000000));
    t[1].tv_nsec = static_cast<long>(Uniform(0, 999999999));
    t[0] = t[1];
    AtName at = At(rel);
    Must(utimensat(at.dir, at.name.c_str(), t, AT_SYMLINK_NOFOLLOW) == 0,
         "utimensat " + Printable(rel));
  }

  std::string root_;
  std::mt19937_64 rng_;
  std::vector<std::string> dirs_, files_, links_, others_, sparse_;
  size_t hardlinks_ = 0;
  bool deep_branch_;
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
