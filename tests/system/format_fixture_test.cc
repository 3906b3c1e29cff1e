// Repositories of every older format stay readable (docs/format.md): each committed fixture under
// tests/fixtures/v<N>/ (made by the binary of that format; its README says how) is copied, opened
// and read with today's binary: snapshots, restore compared with the committed manifest of the
// source, dump, ls, find, diff and stats; then a new snapshot is written into it and restored, and
// its index repaired (index files of today's version written into it).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "crypto/hash.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::JsonValue;
using test::ReadFile;
using test::RepoCli;
using test::RunResult;
using test::SplitLines;
using test::TempDir;
using test::WriteFile;

// The lines tests/fixtures/manifest.py prints for the tree under `root`, sorted by path: path,
// type, mode, size, mtime, content (BLAKE2b-256 / link target / -), user xattrs, tab-separated.
std::vector<std::string> Manifest(const std::string& root) {
  std::vector<std::string> lines;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const std::string path = e.path().string();
    const std::string rel = e.path().lexically_relative(root).string();
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      ADD_FAILURE() << "lstat " << path;
      continue;
    }
    std::string type = "-", mode = "-", size = "0", mtime = "-", content = "-";
    if (S_ISREG(st.st_mode)) {
      type = "file";
      size = std::to_string(st.st_size);
      mtime = std::to_string(st.st_mtim.tv_sec);
      const std::string bytes = ReadFile(path);
      content = PlainHash(AsBytes(bytes)).Hex();
    } else if (S_ISDIR(st.st_mode)) {
      type = "dir";
    } else if (S_ISLNK(st.st_mode)) {
      type = "symlink";
      content = std::filesystem::read_symlink(path).string();
    } else if (S_ISFIFO(st.st_mode)) {
      type = "fifo";
    }
    if (type != "symlink") {
      char octal[16];
      std::snprintf(octal, sizeof octal, "%o", st.st_mode & 07777);
      mode = octal;
    }
    std::vector<std::string> names;
    if (type != "symlink") {
      char list[4096];
      ssize_t n = llistxattr(path.c_str(), list, sizeof list);
      for (ssize_t i = 0; i < n; i += std::strlen(list + i) + 1) {
        if (std::string(list + i).rfind("user.", 0) == 0) names.push_back(list + i);
      }
    }
    std::sort(names.begin(), names.end());
    std::string xattrs;
    for (const std::string& name : names) {
      char value[4096];
      ssize_t n = lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
      xattrs += (xattrs.empty() ? "" : ",") + name + "=" + std::string(value, n > 0 ? n : 0);
    }
    lines.push_back(rel + "\t" + type + "\t" + mode + "\t" + size + "\t" + mtime + "\t" + content +
                    "\t" + (xattrs.empty() ? "-" : xattrs));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

uint64_t Inode(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// One committed fixture (tests/fixtures/README.md): made by tests/fixtures/make.sh with the last
// binary of its format, it holds snapshots "first" and "second" of /tmp/fx/src/data (7000 empty
// files in one directory, so its listing spans several tree blobs; hardlinks, a symlink, a fifo,
// an xattr, a sparse file, 1 KiB chunks so a 96 KiB file has about a hundred runs) and a stdin
// stream.
struct Fixture {
  int version;
  const char* first;
  const char* second;
  const char* stream;
};

// How gtest names a fixture in its output: "v1".
void PrintTo(const Fixture& f, std::ostream* os) { *os << "v" << f.version; }

class FormatFixtureTest : public ::testing::TestWithParam<Fixture> {
 protected:
  static constexpr char kSource[] = "/tmp/fx/src/data";

  void SetUp() override {
    std::filesystem::copy(Dir() + "/repo", cli_.repo(), std::filesystem::copy_options::recursive);
    WriteFile(cli_.password_file(), ReadFile(Dir() + "/password"));
  }

  std::string Dir() const { return std::string(FIXTURES_DIR) + "/v" + Version(); }
  std::string Version() const { return std::to_string(GetParam().version); }
  const char* First() const { return GetParam().first; }
  const char* Second() const { return GetParam().second; }
  const char* Stream() const { return GetParam().stream; }

  RunResult Run(const std::vector<std::string>& args) {
    RunResult r = cli_.Run(args);
    EXPECT_EQ(r.exit_code, 0) << "repo " << args[0] << ": " << r.err;
    return r;
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
};

INSTANTIATE_TEST_SUITE_P(EveryOlderFormat, FormatFixtureTest,
                         ::testing::Values(Fixture{1, "72294083", "71afb380", "961f3ea5"},
                                           Fixture{2, "a38d2209", "c63de574", "ff7196aa"},
                                           Fixture{3, "fc570665", "d2e947b0", "aab9b2fa"}),
                         [](const auto& info) { return "v" + std::to_string(info.param.version); });

TEST_P(FormatFixtureTest, SnapshotsListWithTheirTags) {
  JsonValue snaps = cli_.Snapshots();
  ASSERT_EQ(snaps.size(), 3u);
  std::vector<std::string> ids;
  for (size_t i = 0; i < snaps.size(); ++i) ids.push_back(snaps[i]["short_id"].Str());
  EXPECT_EQ(ids, (std::vector<std::string>{First(), Second(), Stream()}));
  EXPECT_EQ(snaps[0]["tags"][0].Str(), "first");
  EXPECT_EQ(snaps[1]["tags"][0].Str(), "second");
  EXPECT_EQ(snaps[2]["paths"][0].Str(), "stream.txt");
}

TEST_P(FormatFixtureTest, RestoreMatchesTheSourceManifest) {
  const std::string target = dir_.Sub("out");
  Run({"restore", Second(), "--target", target});
  const std::string root = target + kSource;
  // many/ (6999 empty files here) is left out of the committed manifest: counted instead.
  std::vector<std::string> lines = Manifest(root);
  const auto many = std::stable_partition(
      lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("many/", 0) != 0; });
  EXPECT_EQ(lines.end() - many, 6999);
  for (auto it = many; it != lines.end(); ++it) {
    EXPECT_NE(it->find("\tfile\t644\t0\t"), std::string::npos) << *it;
  }
  lines.erase(many, lines.end());
  EXPECT_EQ(lines, SplitLines(ReadFile(Dir() + "/manifest.tsv")));
  EXPECT_EQ(Inode(root + "/hello.txt"), Inode(root + "/sub/hello-link.txt"));
  struct stat st;
  ASSERT_EQ(stat((root + "/sparse.img").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, st.st_size) << "the holes are restored as holes";
}

TEST_P(FormatFixtureTest, FirstSnapshotHasItsOwnListing) {
  const std::string target = dir_.Sub("out");
  Run({"restore", First(), "--target", target});
  const std::string many = target + kSource + "/many";
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(many)) n += e.is_regular_file();
  EXPECT_EQ(n, 7000u);
  EXPECT_TRUE(std::filesystem::exists(many + "/entry-with-a-longish-name-00004.txt"));
  EXPECT_FALSE(std::filesystem::exists(target + kSource + "/hello2.txt"));
}

TEST_P(FormatFixtureTest, DumpLsFindDiffStats) {
  std::string stream;
  for (int i = 1; i <= 20000; ++i) stream += "stream line " + std::to_string(i) + "\n";
  EXPECT_EQ(Run({"dump", Stream(), "stream.txt"}).out, stream);
  EXPECT_EQ(Run({"dump", Second(), std::string(kSource) + "/hello2.txt"}).out,
            "hello, version " + Version() + ", changed\n");

  const std::string ls = Run({"ls", Second(), std::string(kSource) + "/sub"}).out;
  EXPECT_NE(ls.find("link-to-hello"), std::string::npos) << ls;
  EXPECT_NE(ls.find("notes.md"), std::string::npos) << ls;

  const std::string found = Run({"find", "entry-with-a-longish-name-06999.txt"}).out;
  EXPECT_NE(found.find(First()), std::string::npos) << found;
  EXPECT_NE(found.find(Second()), std::string::npos) << found;

  const std::string diff = Run({"diff", First(), Second()}).out;
  EXPECT_NE(diff.find("+    " + std::string(kSource) + "/hello2.txt"), std::string::npos) << diff;
  EXPECT_NE(diff.find("-    " + std::string(kSource) + "/many/entry-with-a-longish-name-00004.txt"),
            std::string::npos)
      << diff;

  const std::string stats = Run({"stats", "--mode", "restore-size"}).out;
  EXPECT_NE(stats.find("Files:             14009"), std::string::npos) << stats;
}

// Every older format checks clean, structure and data, with its version 1 trees and index files.
TEST_P(FormatFixtureTest, ChecksClean) {
  const std::string out = Run({"check", "--read-data"}).out;
  EXPECT_NE(out.find("no errors were found"), std::string::npos) << out;
  EXPECT_NE(out.find(" 3 snapshots"), std::string::npos) << out;
}

TEST_P(FormatFixtureTest, NewSnapshotsCanBeWrittenAndRestored) {
  const std::string src = dir_.Sub("src");
  std::filesystem::create_directories(src + "/d");
  WriteFile(src + "/d/new.txt", "written into a version " + Version() + " repository\n");
  Run({"snapshot", src, "--no-progress"});
  // It ran in a session of its own, whose record (new in format 4) it removed when done.
  EXPECT_TRUE(std::filesystem::is_empty(cli_.repo() + "/locks"));
  const std::string target = dir_.Sub("out");
  Run({"restore", "latest", "--target", target});
  EXPECT_EQ(ReadFile(target + src + "/d/new.txt"),
            "written into a version " + Version() + " repository\n");
  // A repair writes index files of version 2 (replacing the old ones) into it; everything still
  // reads, through this cache (applied in place) and a fresh one.
  Run({"repair", "index"});
  EXPECT_EQ(ReadFile(target + src + "/d/new.txt"), Run({"dump", "latest", src + "/d/new.txt"}).out);
  std::filesystem::remove_all(cli_.cache_dir());
  // The old snapshots are still there and whole, and everything checks clean.
  EXPECT_EQ(Run({"dump", Second(), std::string(kSource) + "/hello.txt"}).out,
            "hello, version " + Version() + "\n");
  Run({"check", "--read-data"});
}

}  // namespace
}  // namespace repo
