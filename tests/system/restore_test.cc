// `repo restore`, `repo ls` and `repo snapshots` end to end, as an operator uses them for
// single-file recovery and audits (USE-CASES.md jobs 4 and 6): restore never overwrites silently,
// subsets by --include/--exclude, the forms of ls, the fields scripts read from --json, snapshot
// references (latest, short ids, prefixes) and tags. Runs the built binary with no terminal.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

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

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = cli_.Init();
    ASSERT_EQ(r.exit_code, 0) << "repo init failed: " << r.err;
    std::filesystem::create_directories(src_ + "/sub");
    WriteFile(src_ + "/a.txt", "alpha\n");
    WriteFile(src_ + "/b.txt", "bravo bravo\n");
    WriteFile(src_ + "/sub/c.txt", "charlie\n");
    WriteFile(src_ + "/sub/d.log", "delta log\n");
    WriteFile(src_ + "/exec.sh", "#!/bin/sh\necho hi\n");
    for (const char* f : {"a.txt", "b.txt", "sub/c.txt", "sub/d.log"}) {
      chmod((src_ + "/" + f).c_str(), 0644);
    }
    chmod((src_ + "/exec.sh").c_str(), 0755);
    symlink("a.txt", (src_ + "/link").c_str());
  }

  // `repo snapshot src args... --json`: the new snapshot's id.
  std::string Snapshot(std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"snapshot", src_, "--json"});
    RunResult r = cli_.Run(args);
    EXPECT_EQ(r.exit_code, 0) << "repo snapshot: " << r.err;
    return RepoCli::Summary(r)["snapshot_id"].Str();
  }

  RunResult Restore(const std::string& snapshot, const std::string& target,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"restore", snapshot, "--target", target};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli_.Run(args);
  }

  // Paths of regular files and symlinks restored under target (relative to src).
  std::set<std::string> RestoredFiles(const std::string& target) {
    std::set<std::string> out;
    const std::string base = target + src_;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(base, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_directory() || it->is_symlink()) {
        out.insert(it->path().lexically_relative(base).string());
      }
    }
    return out;
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
  const std::string src_ = dir_.Sub("src");
};

TEST_F(RestoreTest, RefusesToOverwriteWithoutOverwriteAndReplacesWithIt) {
  const std::string id = Snapshot();
  const std::string target = dir_.Sub("target");
  const std::string existing = target + src_ + "/sub/c.txt";
  std::filesystem::create_directories(target + src_ + "/sub");
  WriteFile(existing, "precious local edit\n");

  RunResult r = Restore(id, target);
  EXPECT_NE(r.exit_code, 0) << "restore over an existing file succeeded";
  EXPECT_EQ(Lines(r.err), 1) << "expected one line of error: " << r.err;
  EXPECT_EQ(r.err.rfind("repo: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(existing), std::string::npos) << "the error must name the file: " << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << "and say what to do: " << r.err;
  EXPECT_EQ(ReadFile(existing), "precious local edit\n") << "the existing file was changed";
  EXPECT_FALSE(Exists(target + src_ + "/a.txt")) << "restore wrote files before refusing";

  r = Restore(id, target, {"--overwrite"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(existing), "charlie\n");
  EXPECT_EQ(ReadFile(target + src_ + "/a.txt"), "alpha\n");

  // --overwrite replaces a symlink in the way; it does not write through it.
  const std::string victim = dir_.Sub("victim");
  WriteFile(victim, "not to be touched\n");
  ASSERT_EQ(unlink((target + src_ + "/a.txt").c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), (target + src_ + "/a.txt").c_str()), 0);
  r = Restore(id, target, {"--overwrite"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(victim), "not to be touched\n") << "restore wrote through a symlink";
  struct stat st;
  ASSERT_EQ(lstat((target + src_ + "/a.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "a.txt is still a symlink after --overwrite";
  EXPECT_EQ(ReadFile(target + src_ + "/a.txt"), "alpha\n");
}

TEST_F(RestoreTest, RefusesWhenASymlinkOrDirectoryIsInTheWay) {
  const std::string id = Snapshot();
  const std::string target = dir_.Sub("target");
  std::filesystem::create_directories(target + src_);
  ASSERT_EQ(symlink("/etc/passwd", (target + src_ + "/b.txt").c_str()), 0);
  RunResult r = Restore(id, target);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(target + src_ + "/b.txt"), std::string::npos) << r.err;

  const std::string target2 = dir_.Sub("target2");
  std::filesystem::create_directories(target2 + src_);
  WriteFile(target2 + src_ + "/sub", "a file where a directory goes");
  r = Restore(id, target2);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(target2 + src_ + "/sub"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(target2 + src_ + "/sub"), "a file where a directory goes");
}

TEST_F(RestoreTest, RestoresIntoAnEmptyDirectoryAndBesideUnrelatedFiles) {
  const std::string id = Snapshot();
  // An existing empty target (the conflict scan is skipped: nothing can be in the way).
  const std::string empty = dir_.Sub("empty");
  std::filesystem::create_directories(empty);
  RunResult r = Restore(id, empty);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(empty + src_ + "/sub/c.txt"), "charlie\n");
  struct stat src_st, got;
  ASSERT_EQ(lstat((src_ + "/exec.sh").c_str(), &src_st), 0);
  ASSERT_EQ(lstat((empty + src_ + "/exec.sh").c_str(), &got), 0);
  EXPECT_EQ(got.st_mode, src_st.st_mode);
  EXPECT_EQ(got.st_mtim.tv_sec, src_st.st_mtim.tv_sec);
  EXPECT_EQ(got.st_mtim.tv_nsec, src_st.st_mtim.tv_nsec);

  // A target holding other files: they are left alone, and nothing of the snapshot is in the way.
  const std::string busy = dir_.Sub("busy");
  std::filesystem::create_directories(busy + src_ + "/sub");
  WriteFile(busy + "/unrelated.txt", "keep me\n");
  WriteFile(busy + src_ + "/sub/other.txt", "keep me too\n");
  r = Restore(id, busy);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(busy + "/unrelated.txt"), "keep me\n");
  EXPECT_EQ(ReadFile(busy + src_ + "/sub/other.txt"), "keep me too\n");
  EXPECT_EQ(ReadFile(busy + src_ + "/b.txt"), "bravo bravo\n");
}

TEST_F(RestoreTest, IncludeAndExcludeRestoreASubset) {
  const std::string id = Snapshot();
  struct Case {
    std::vector<std::string> options;
    std::set<std::string> expected;
  };
  const std::vector<Case> cases = {
      {{"--include", "*.txt"}, {"a.txt", "b.txt", "sub/c.txt"}},
      {{"--exclude", "*.txt"}, {"exec.sh", "link", "sub/d.log"}},
      {{"--exclude", src_ + "/sub"}, {"a.txt", "b.txt", "exec.sh", "link"}},
      {{"--include", src_ + "/sub"}, {"sub/c.txt", "sub/d.log"}},
      {{"--include", src_ + "/sub", "--exclude", "*.log"}, {"sub/c.txt"}},
      {{"--include", "link", "--include", "exec.sh"}, {"link", "exec.sh"}},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string target = dir_.Sub("t" + std::to_string(n++));
    RunResult r = Restore(id, target, c.options);
    std::string opts;
    for (const auto& o : c.options) opts += o + " ";
    ASSERT_EQ(r.exit_code, 0) << opts << ": " << r.err;
    EXPECT_EQ(RestoredFiles(target), c.expected) << "restore " << opts << "; repo said: " << r.out;
  }
  // A selected file's content and mode come back as well.
  const std::string target = dir_.Sub("exec");
  ASSERT_EQ(Restore(id, target, {"--include", "exec.sh"}).exit_code, 0);
  struct stat st;
  ASSERT_EQ(stat((target + src_ + "/exec.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(ReadFile(target + src_ + "/exec.sh"), "#!/bin/sh\necho hi\n");
}

TEST_F(RestoreTest, LsListsADirectoryAFileRecursivelyLongAndAsJson) {
  Snapshot();
  RunResult r = cli_.Run({"ls", "latest", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> expected = {src_ + "/a.txt", src_ + "/b.txt", src_ + "/exec.sh",
                                       src_ + "/link", src_ + "/sub"};
  EXPECT_EQ(SplitLines(r.out), expected) << "ls of a directory: its entries, in name order";

  r = cli_.Run({"ls", "latest", src_ + "/sub/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expected = {src_ + "/sub/c.txt", src_ + "/sub/d.log"};
  EXPECT_EQ(SplitLines(r.out), expected);

  r = cli_.Run({"ls", "latest", src_ + "/a.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, src_ + "/a.txt\n") << "ls of a file: that file";

  r = cli_.Run({"ls", "latest", src_, "--recursive"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(SplitLines(r.out).size(), 7u) << r.out;

  r = cli_.Run({"ls", "-l", "latest", src_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = SplitLines(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[0].rfind("-rw-r--r-- ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(" 6 "), std::string::npos) << "size of a.txt: " << lines[0];
  EXPECT_EQ(lines[2].rfind("-rwxr-xr-x ", 0), 0u) << lines[2];
  EXPECT_EQ(lines[3].rfind("lrwxrwxrwx ", 0), 0u) << lines[3];
  EXPECT_NE(lines[3].find(src_ + "/link -> a.txt"), std::string::npos) << lines[3];
  EXPECT_EQ(lines[4].rfind("d", 0), 0u) << lines[4];

  r = cli_.Run({"ls", "--json", "latest", src_, "--recursive"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto nodes = JsonValue::ParseLines(r.out);
  ASSERT_TRUE(nodes) << "ls --json printed invalid JSON: " << r.out;
  ASSERT_EQ(nodes->size(), 7u) << r.out;
  for (const JsonValue& n : *nodes) {
    const std::string path = n["path"].Str();
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << "ls --json path " << path;
    EXPECT_EQ(n["name"].Str(), std::filesystem::path(path).filename().string());
    EXPECT_EQ(n["mode"].Int(), static_cast<int64_t>(st.st_mode & 07777)) << path;
    EXPECT_EQ(n["uid"].Int(), static_cast<int64_t>(st.st_uid)) << path;
    EXPECT_EQ(n["gid"].Int(), static_cast<int64_t>(st.st_gid)) << path;
    EXPECT_EQ(n["mtime_ns"].Int(), int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec)
        << path;
    const std::string type = n["type"].Str();
    if (S_ISREG(st.st_mode)) {
      EXPECT_EQ(type, "file") << path;
      EXPECT_EQ(n["size"].Int(), static_cast<int64_t>(st.st_size)) << path;
    } else if (S_ISDIR(st.st_mode)) {
      EXPECT_EQ(type, "dir") << path;
    } else {
      EXPECT_EQ(type, "symlink") << path;
      EXPECT_EQ(n["link_target"].Str(), "a.txt") << path;
    }
  }

  r = cli_.Run({"ls", "latest", src_ + "/no-such-file"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("no-such-file"), std::string::npos) << r.err;
}

TEST_F(RestoreTest, SnapshotsJsonFieldsIdsLatestAndTags) {
  const std::string first = Snapshot();
  WriteFile(src_ + "/a.txt", "alpha, second version\n");
  const std::string second = Snapshot({"--tag", "a,b"});
  WriteFile(src_ + "/a.txt", "alpha, third version\n");
  const std::string third = Snapshot({"--tag", "c", "--tag", "a", "--host", "elsewhere"});
  ASSERT_FALSE(first.empty() || second.empty() || third.empty());

  std::string err;
  JsonValue all = cli_.Snapshots({}, &err);
  ASSERT_TRUE(all.is_array()) << "snapshots --json: " << err;
  ASSERT_EQ(all.size(), 3u);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::vector<std::string> ids = {first, second, third};
  int64_t previous_time = 0;
  for (size_t i = 0; i < 3; ++i) {
    const JsonValue& s = all[i];
    EXPECT_EQ(s["id"].Str(), ids[i]) << "snapshots are listed oldest first";
    EXPECT_EQ(s["id"].Str().size(), 64u);
    EXPECT_EQ(s["short_id"].Str(), ids[i].substr(0, 8));
    EXPECT_GT(s["time_ns"].Int(), previous_time);
    previous_time = s["time_ns"].Int();
    EXPECT_FALSE(s["time"].Str().empty());
    EXPECT_EQ(s["paths"].Strings(), std::vector<std::string>{src_});
    EXPECT_FALSE(s["username"].Str().empty());
    EXPECT_FALSE(s["program_version"].Str().empty());
    for (const char* f : {"files_new", "files_changed", "files_unchanged", "bytes_processed",
                          "bytes_added", "errors", "duration_ms"}) {
      EXPECT_TRUE(s["summary"][f].is_int()) << "summary." << f << " missing in " << ids[i];
    }
  }
  EXPECT_EQ(all[0]["hostname"].Str(), host);
  EXPECT_EQ(all[2]["hostname"].Str(), "elsewhere");
  EXPECT_EQ(all[0]["tags"].Strings(), std::vector<std::string>{});
  EXPECT_EQ(all[1]["tags"].Strings(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(all[2]["tags"].Strings(), (std::vector<std::string>{"a", "c"}));
  EXPECT_FALSE(all[0].Has("parent"));
  EXPECT_EQ(all[1]["parent"].Str(), first) << "parent: the last snapshot of the same host/paths";
  EXPECT_FALSE(all[2].Has("parent")) << "another host's snapshot is no parent";
  EXPECT_EQ(all[1]["summary"]["files_changed"].Int(), 1);
  EXPECT_EQ(all[1]["summary"]["files_unchanged"].Int(), 4);

  auto ids_of = [&](std::vector<std::string> filter) {
    std::vector<std::string> out;
    const JsonValue list = cli_.Snapshots(filter);
    for (const JsonValue& s : list.items()) out.push_back(s["id"].Str());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids_of({"--tag", "a"}), (V{second, third}));
  EXPECT_EQ(ids_of({"--tag", "b"}), V{second});
  EXPECT_EQ(ids_of({"--tag", "a,b"}), V{second}) << "'a,b' means both";
  EXPECT_EQ(ids_of({"--tag", "a,c"}), V{third});
  EXPECT_EQ(ids_of({"--tag", "b", "--tag", "c"}), (V{second, third})) << "repeated: either";
  EXPECT_EQ(ids_of({"--tag", "zzz"}), V{});
  EXPECT_EQ(ids_of({"--host", "elsewhere"}), V{third});
  EXPECT_EQ(ids_of({"latest"}), V{third});
  EXPECT_EQ(ids_of({"latest", "--tag", "b"}), V{second});
  EXPECT_EQ(ids_of({"latest", "--host", host}), V{second});

  // References: latest, short id, a unique prefix of 4 hex digits, the full id.
  auto dump_a = [&](const std::string& ref) {
    RunResult r = cli_.Run({"dump", ref, src_ + "/a.txt"});
    EXPECT_EQ(r.exit_code, 0) << "dump " << ref << ": " << r.err;
    return r.out;
  };
  EXPECT_EQ(dump_a("latest"), "alpha, third version\n");
  EXPECT_EQ(dump_a(first.substr(0, 8)), "alpha\n");
  EXPECT_EQ(dump_a(second), "alpha, second version\n");
  bool unique4 = true;
  for (const auto& other : {second, third}) unique4 = unique4 && other.compare(0, 4, first, 0, 4);
  if (unique4) {
    EXPECT_EQ(dump_a(first.substr(0, 4)), "alpha\n");
  }
  const std::string target = dir_.Sub("target");
  RunResult r = Restore(second.substr(0, 8), target, {"--include", "a.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(target + src_ + "/a.txt"), "alpha, second version\n");
  r = cli_.Run({"ls", "latest", "--tag", "b", src_ + "/a.txt", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ((*JsonValue::Parse(r.out))["size"].Int(), 22) << "latest --tag b is the second";

  // Bad references: too short, not hex, unknown; each a one-line error.
  r = cli_.Run({"dump", first.substr(0, 3), src_ + "/a.txt"});
  EXPECT_EQ(r.exit_code, 2) << "3 hex digits: " << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  r = cli_.Run({"ls", "nothex!"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  std::string unknown = "00000000";
  for (const auto& id : ids) {
    if (id.compare(0, 8, unknown) == 0) unknown = "ffffffff";
  }
  r = cli_.Run({"restore", unknown, "--target", target});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(unknown), std::string::npos) << r.err;
  r = cli_.Run({"ls", "latest", "--tag", "zzz"});
  EXPECT_NE(r.exit_code, 0) << "latest with a filter nothing matches";

  // The text listing: a header, one line per snapshot, a count.
  r = cli_.Run({"snapshots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = SplitLines(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[2].rfind(second.substr(0, 8), 0), 0u) << lines[2];
  EXPECT_EQ(lines[4], "3 snapshots");
}

// `--tag a,b` as a filter means "a AND b" (docs/cli.md), which needs option values to keep their
// commas (cxxopts splits repeatable values at ',' by default: "a OR b"); globs likewise.
TEST_F(RestoreTest, TagFilterWithCommaMeansAllTags) {
  Snapshot({"--tag", "a,b"});
  Snapshot({"--tag", "a,c"});
  JsonValue both = cli_.Snapshots({"--tag", "a,b"});
  ASSERT_TRUE(both.is_array());
  EXPECT_EQ(both.size(), 1u) << "'--tag a,b' must select only snapshots tagged a AND b";
  RunResult r = cli_.Run({"snapshots", "--json", "latest", "--tag", "a,b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ((*JsonValue::Parse(r.out))[0]["tags"].Strings(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(RestoreTest, IncludeGlobMayContainAComma) {
  WriteFile(src_ + "/x,y.txt", "comma\n");
  const std::string id = Snapshot();
  const std::string target = dir_.Sub("target");
  RunResult r = Restore(id, target, {"--include", "x,y.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RestoredFiles(target), std::set<std::string>{"x,y.txt"});
}

}  // namespace
}  // namespace repo
