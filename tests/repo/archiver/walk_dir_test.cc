// The walk's filesystem helpers: listing a directory with the exclude rules applied (names
// sorted, "." and ".." left out, runs spilled to a temporary file past a bound:
// repo/archiver/dir_listing.h), CACHEDIR.TAG detection, path helpers (repo/archiver/walk_dir.h).
#include "repo/archiver/walk_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "repo/archiver/dir_listing.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using Names = std::vector<std::string>;

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

void MakeDir(const std::string& path) { ASSERT_EQ(mkdir(path.c_str(), 0755), 0) << path; }

// Every name of a listing of `fd`, in the order given.
Result<Names> Drain(int fd, const std::string& path, const ExcludeRules& rules,
                    size_t run_bytes = kDirListingRunBytes) {
  ASSIGN_OR_RETURN(auto listing, DirListing::Open(fd, path, rules, run_bytes));
  Names names;
  std::string_view name;
  while (true) {
    ASSIGN_OR_RETURN(bool more, listing->Next(&name));
    if (!more) break;
    names.emplace_back(name);
  }
  if (names.size() != listing->size()) return Status::Corruption("test: size() disagrees");
  return names;
}

// Lists `path` as the walk does: through a fresh directory fd.
Result<Names> List(const std::string& path, const ExcludeRules& rules,
                   size_t run_bytes = kDirListingRunBytes) {
  const int fd = open(path.c_str(), kWalkDirFlags);
  if (fd < 0) return Status::FromErrno(errno, "test: opening " + path);
  auto names = Drain(fd, path, rules, run_bytes);
  close(fd);
  return names;
}

Names ListOk(const std::string& path, const ExcludeRules& rules = {},
             size_t run_bytes = kDirListingRunBytes) {
  auto names = List(path, rules, run_bytes);
  EXPECT_TRUE(names.ok()) << names.status().ToString();
  return names.ok() ? *names : Names{};
}

ExcludeRules Patterns(Names patterns) {
  ExcludeRules rules;
  rules.patterns = std::move(patterns);
  return rules;
}

TEST(DirListingTest, NamesAreSortedBytewiseWithoutDotEntries) {
  test::TempDir dir;
  for (const char* name : {"b", "a", "B", ".hidden", "a b", "\xff odd"}) {
    WriteFile(dir.Sub(name), "x");
  }
  MakeDir(dir.Sub("c"));
  EXPECT_EQ(ListOk(dir.path()), (Names{".hidden", "B", "a", "a b", "b", "c", "\xff odd"}));
}

TEST(DirListingTest, EmptyDirectoryListsNothing) {
  test::TempDir dir;
  EXPECT_EQ(ListOk(dir.path()), Names{});
}

TEST(DirListingTest, PatternWithoutSlashExcludesANameInAnyDirectory) {
  test::TempDir dir;
  WriteFile(dir.Sub("keep.txt"), "x");
  WriteFile(dir.Sub("drop.tmp"), "x");
  WriteFile(dir.Sub(".dot.tmp"), "x");  // '*' matches a leading '.', as in tar and restic
  MakeDir(dir.Sub("sub"));
  WriteFile(dir.Sub("sub/deep.tmp"), "x");
  WriteFile(dir.Sub("sub/keep.tmp.txt"), "x");
  MakeDir(dir.Sub("node_modules"));  // a directory is excluded by its name too
  const ExcludeRules rules = Patterns({"*.tmp", "node_modules"});
  EXPECT_EQ(ListOk(dir.path(), rules), (Names{"keep.txt", "sub"}));
  EXPECT_EQ(ListOk(dir.Sub("sub"), rules), (Names{"keep.tmp.txt"}));
}

TEST(DirListingTest, PatternWithSlashMatchesTheWholePath) {
  test::TempDir dir;
  MakeDir(dir.Sub("sub"));
  MakeDir(dir.Sub("other"));
  MakeDir(dir.Sub("other/sub"));  // same name elsewhere: kept
  const ExcludeRules rules = Patterns({dir.Sub("sub")});
  EXPECT_EQ(ListOk(dir.path(), rules), (Names{"other"}));
  EXPECT_EQ(ListOk(dir.Sub("other"), rules), (Names{"sub"}));
}

TEST(DirListingTest, StarInAPathPatternCrossesSlashes) {
  test::TempDir dir;
  WriteFile(dir.Sub("top.log"), "x");
  WriteFile(dir.Sub("top.txt"), "x");
  MakeDir(dir.Sub("a"));
  MakeDir(dir.Sub("a/b"));
  WriteFile(dir.Sub("a/b/deep.log"), "x");
  WriteFile(dir.Sub("a/b/deep.txt"), "x");
  const ExcludeRules rules = Patterns({dir.path() + "/*.log"});
  EXPECT_EQ(ListOk(dir.path(), rules), (Names{"a", "top.txt"}));
  EXPECT_EQ(ListOk(dir.Sub("a/b"), rules), (Names{"deep.txt"}));
}

TEST(DirListingTest, OnlyPatternsExclude) {
  // The other rules are the walk's to apply (on stat results), not the listing's.
  test::TempDir dir;
  WriteFile(dir.Sub("big"), std::string(4096, 'x'));
  WriteFile(dir.Sub("CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55");
  ExcludeRules rules;
  rules.exclude_caches = true;
  rules.exclude_larger_than = 1;
  rules.one_file_system = true;
  EXPECT_EQ(ListOk(dir.path(), rules), (Names{"CACHEDIR.TAG", "big"}));
}

TEST(DirListingTest, AnUnlistableFdIsAnErrorNamingThePath) {
  test::TempDir dir;
  WriteFile(dir.Sub("file"), "x");
  const int fd = open(dir.Sub("file").c_str(), O_RDONLY | O_CLOEXEC);  // not a directory
  ASSERT_GE(fd, 0);
  auto names = Drain(fd, "/named/in/message", {});
  close(fd);
  ASSERT_FALSE(names.ok());
  EXPECT_NE(names.status().message().find("cannot read directory /named/in/message"),
            std::string::npos)
      << names.status().message();
}

TEST(DirListingTest, TheGivenFdStaysUsable) {
  test::TempDir dir;
  WriteFile(dir.Sub("f"), "x");
  const int fd = open(dir.path().c_str(), kWalkDirFlags);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(*Drain(fd, dir.path(), {}), (Names{"f"}));
  struct stat st;
  EXPECT_EQ(fstatat(fd, "f", &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(close(fd), 0);
}

// Sets TMPDIR for the life of the scope.
class ScopedTmpdir {
 public:
  explicit ScopedTmpdir(const std::string& dir) {
    if (const char* old = std::getenv("TMPDIR")) old_ = old;
    setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (old_) {
      setenv("TMPDIR", old_->c_str(), 1);
    } else {
      unsetenv("TMPDIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

// A directory of `count` files with names of 1 to 255 bytes, some of bytes above 0x7f; the
// names, sorted bytewise.
Names ManyNames(const test::TempDir& dir, size_t count) {
  Names names;
  for (size_t i = 0; i < count; ++i) {
    std::string name = std::to_string(i * 7919 % 10007);
    name.append(i * 31 % 256 - std::min<size_t>(i * 31 % 256, name.size()), "xyz\xe9"[i % 4]);
    names.push_back(name);
    WriteFile(dir.Sub(name), "");
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

TEST(DirListingTest, ADirectoryLargerThanARunIsMergedFromSpilledRuns) {
  test::TempDir dir;
  test::TempDir tmp;
  ScopedTmpdir scoped(tmp.path());
  const Names names = ManyNames(dir, 3000);
  EXPECT_EQ(ListOk(dir.path(), {}, 1), names);       // every name a run of its own
  EXPECT_EQ(ListOk(dir.path(), {}, 4096), names);    // runs of ~30 names
  EXPECT_EQ(ListOk(dir.path(), {}, 100000), names);  // runs of ~100 KB, read back 16 KiB at a time
  EXPECT_EQ(ListOk(dir.path()), names);              // one run, in memory
  // Excludes apply while spilling as well.
  Names kept;
  for (const std::string& n : names) {
    if (n[0] != '1') kept.push_back(n);
  }
  EXPECT_EQ(ListOk(dir.path(), Patterns({"1*"}), 512), kept);
}

TEST(DirListingTest, TheSpillFileLeavesNoTrace) {
  test::TempDir dir;
  test::TempDir tmp;
  ScopedTmpdir scoped(tmp.path());
  const Names names = ManyNames(dir, 500);
  const int fd = open(dir.path().c_str(), kWalkDirFlags);
  ASSERT_GE(fd, 0);
  auto listing = DirListing::Open(fd, dir.path(), {}, 64);
  close(fd);
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  EXPECT_EQ((*listing)->size(), names.size());
  // Open, and nothing is named in TMPDIR: a crash leaves nothing behind.
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  std::string_view first;
  ASSERT_TRUE(*(*listing)->Next(&first));
  EXPECT_EQ(first, names.front());
}

TEST(DirListingTest, WithoutATemporaryFileTheNamesAreSortedInMemoryWithAWarning) {
  test::TempDir dir;
  ScopedTmpdir scoped(dir.Sub("no-such-dir"));
  const Names names = ManyNames(dir, 100);
  const int fd = open(dir.path().c_str(), kWalkDirFlags);
  ASSERT_GE(fd, 0);
  auto fits = DirListing::Open(fd, dir.path(), {});
  close(fd);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ((*fits)->warning(), "");  // fits in memory: no file needed
  EXPECT_EQ(ListOk(dir.path(), {}, 64), names);
  const int fd2 = open(dir.path().c_str(), kWalkDirFlags);
  ASSERT_GE(fd2, 0);
  auto spilled = DirListing::Open(fd2, dir.path(), {}, 64);
  close(fd2);
  ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
  EXPECT_NE((*spilled)->warning().find("directory " + dir.path() + ": sorting its names: " +
                                       "temporary file in " + dir.Sub("no-such-dir")),
            std::string::npos)
      << (*spilled)->warning();
  EXPECT_NE((*spilled)->warning().find("set TMPDIR"), std::string::npos);
}

// A directory holding a CACHEDIR.TAG with `content`: is it a cache directory?
bool CacheDirWithTag(const std::string& content) {
  test::TempDir dir;
  WriteFile(dir.Sub("CACHEDIR.TAG"), content);
  const int fd = open(dir.path().c_str(), kWalkDirFlags);
  EXPECT_GE(fd, 0);
  const bool cache = IsCacheDir(fd);
  close(fd);
  return cache;
}

TEST(IsCacheDirTest, TheSignatureMakesACacheDirectory) {
  const std::string signature = "Signature: 8a477f597d28d172789f06886806bc55";
  EXPECT_TRUE(CacheDirWithTag(signature));
  // The specification allows anything after the signature (usually a comment line).
  EXPECT_TRUE(CacheDirWithTag(signature + "\n# This file is a cache directory tag.\n"));
  EXPECT_FALSE(CacheDirWithTag(signature.substr(0, signature.size() - 1)));  // too short
  EXPECT_FALSE(CacheDirWithTag("Signature: 8a477f597d28d172789f06886806bc56"));
  EXPECT_FALSE(CacheDirWithTag("signature: 8a477f597d28d172789f06886806bc55"));
  EXPECT_FALSE(CacheDirWithTag(""));
}

TEST(IsCacheDirTest, NoTagOrATagThatIsNoFile) {
  test::TempDir dir;
  int fd = open(dir.path().c_str(), kWalkDirFlags);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(IsCacheDir(fd));
  close(fd);
  MakeDir(dir.Sub("CACHEDIR.TAG"));
  fd = open(dir.path().c_str(), kWalkDirFlags);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(IsCacheDir(fd));
  close(fd);
}

TEST(PathHelpersTest, JoinPathDoesNotDoubleTheRootSlash) {
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
  EXPECT_EQ(JoinPath("/a/b", "c d"), "/a/b/c d");
}

TEST(PathHelpersTest, AbsolutePathResolvesLexically) {
  EXPECT_EQ(AbsolutePath("/"), "/");
  EXPECT_EQ(AbsolutePath("/a/./b/../c/"), "/a/c");
  EXPECT_EQ(AbsolutePath("/a//b///"), "/a/b");
  EXPECT_EQ(AbsolutePath("/.."), "/");
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(AbsolutePath("x/y"), JoinPath(cwd, "x/y"));
  EXPECT_EQ(AbsolutePath("."), cwd);
}

TEST(PathHelpersTest, PathComponentsSplitsAnAbsolutePath) {
  EXPECT_EQ(PathComponents("/"), Names{});
  EXPECT_EQ(PathComponents("/a"), (Names{"a"}));
  EXPECT_EQ(PathComponents("/a/b c/d"), (Names{"a", "b c", "d"}));
}

TEST(WalkDepthLimitTest, AtLeastOneLevelAndAtMostTheRecursionBound) {
  const WalkDepth depth = WalkDepthLimit();
  EXPECT_GE(depth.levels, 1u);
  EXPECT_LE(depth.levels, 2048u);
  if (!depth.by_fd_limit) {
    EXPECT_EQ(depth.levels, 2048u);
  }
}

}  // namespace
}  // namespace repo
