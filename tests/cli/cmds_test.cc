// repo find, diff, stats and tag end to end: the real binary on real files, as a script runs it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "tests/support/mini_json.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

namespace fs = std::filesystem;
using test::JsonValue;
using test::RunResult;

class CmdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = cli_.Init();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    fs::create_directories(src_);
  }

  void Write(const std::string& rel, const std::string& content) {
    fs::create_directories(fs::path(src_ + "/" + rel).parent_path());
    test::WriteFile(src_ + "/" + rel, content);
  }
  static std::string Random(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }
  // `repo snapshot src_ args...`; returns the full snapshot id.
  std::string Snapshot(std::vector<std::string> args = {}) {
    std::vector<std::string> full = {"snapshot", "--json", src_};
    full.insert(full.end(), args.begin(), args.end());
    RunResult r = cli_.Run(full);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string id = test::RepoCli::Summary(r)["snapshot_id"].Str();
    EXPECT_EQ(id.size(), 64u) << r.out;
    return id;
  }
  RunResult Run(const std::vector<std::string>& args) { return cli_.Run(args); }
  static JsonValue Json(const RunResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto v = JsonValue::Parse(r.out);
    EXPECT_TRUE(v.has_value()) << "not one JSON value: " << r.out;
    return v ? *v : JsonValue();
  }
  // The ids of `repo snapshots`, oldest first, and their tags.
  std::vector<std::pair<std::string, std::vector<std::string>>> Snapshots(
      const std::vector<std::string>& filter = {}) {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    const JsonValue all = cli_.Snapshots(filter);
    for (const JsonValue& s : all.items()) {
      out.push_back({s["id"].Str(), s["tags"].Strings()});
    }
    return out;
  }

  test::TempDir dir_;
  test::RepoCli cli_{REPO_BINARY, dir_.path()};
  std::string src_ = dir_.Sub("src");
};

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// --- JSON names --------------------------------------------------------------------------------

// Names are bytes: in --json output, well-formed UTF-8 stays as it is and any other byte is
// escaped so that a script gets the exact name back (a Latin-1 "é" is not the UTF-8 "é").
TEST_F(CmdsTest, JsonNamesGiveBackTheirExactBytes) {
  const std::vector<std::string> names = {"plain",
                                          "\xc3\xa9t\xc3\xa9" /* UTF-8 */,
                                          "caf\xe9" /* Latin-1 */,
                                          "\xff\xfe",
                                          "\xc0\xaf" /* overlong */,
                                          "\xed\xa0\x80" /* surrogate */,
                                          "\xf4\x90\x80\x80" /* above U+10FFFF */,
                                          "cut \xe2\x82",
                                          "\xf0\x9f\x92\xbe disk",
                                          "tab\tquote\"back\\",
                                          "\xe0\x80\xaf" /* overlong, 3 */,
                                          "\xf0\x80\x80\xaf" /* overlong, 4 */};
  for (const std::string& n : names) Write(n, n);
  Snapshot();
  RunResult r = Run({"ls", "latest", "--recursive", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = JsonValue::ParseLines(r.out);
  ASSERT_TRUE(lines.has_value()) << "not JSON lines: " << r.out;
  std::set<std::string> listed;
  for (const JsonValue& v : *lines) listed.insert(v["name"].Str());
  for (const std::string& n : names) EXPECT_TRUE(listed.count(n)) << "name not given back: " << n;
  // Latin-1 "é" did not come back as the UTF-8 one (the old \u00e9 escape made them one).
  EXPECT_EQ(r.out.find("caf\\u00e9"), std::string::npos) << r.out;
}

// --- find ------------------------------------------------------------------------------------

TEST_F(CmdsTest, FindAcrossSnapshots) {
  Write("a.txt", "a");
  Write("docs/b.txt", "bb");
  Write("docs/c.md", "c");
  const std::string s1 = Snapshot();
  Write("docs/d.txt", "dddd");
  const std::string s2 = Snapshot();

  RunResult r = Run({"find", "*.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("snapshot " + s1.substr(0, 8) + " ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("snapshot " + s2.substr(0, 8) + " ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(src_ + "/docs/d.txt\n"), std::string::npos) << r.out;
  EXPECT_EQ(Lines(r.out), 2 + 2 + 3 + 1) << r.out;  // headers, matches, blank separator

  JsonValue j = Json(Run({"find", "*.txt", "--json"}));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["snapshot"].Str(), s1);
  EXPECT_EQ(j[0]["matches"].size(), 2u);
  EXPECT_EQ(j[1]["snapshot"].Str(), s2);
  ASSERT_EQ(j[1]["matches"].size(), 3u);
  const JsonValue& d = j[1]["matches"][2];  // a.txt, docs/b.txt, docs/d.txt
  EXPECT_EQ(d["path"].Str(), src_ + "/docs/d.txt");
  EXPECT_EQ(d["type"].Str(), "file");
  EXPECT_EQ(d["size"].Int(), 4);
  EXPECT_GT(d["mtime_ns"].Int(), 0);

  // Path patterns match the whole path; one snapshot chosen by id, another as 'latest'.
  j = Json(Run({"find", src_ + "/docs/*", "--json", "-s", s1.substr(0, 6)}));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["matches"].size(), 2u);  // b.txt, c.md
  j = Json(Run({"find", src_ + "/docs/*", "--snapshot", "latest", "--json"}));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["snapshot"].Str(), s2);
  EXPECT_EQ(j[0]["matches"].size(), 3u);

  r = Run({"find", "-l", "c.md", "-s", "latest"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("-rw"), std::string::npos) << r.out;

  // No match is not an error; the human form says so on stderr.
  r = Run({"find", "d.txt", "-s", s1});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("no matches"), std::string::npos) << r.err;
  r = Run({"find", "nothing", "--json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "[]\n");

  EXPECT_EQ(Run({"find"}).exit_code, 2);
  EXPECT_EQ(Run({"find", "x", "-s", "ffffffff"}).exit_code, 1);  // no such snapshot
}

// --- diff ------------------------------------------------------------------------------------

TEST_F(CmdsTest, DiffShowsEveryKindOfChange) {
  Write("stable/keep.txt", "same");
  Write("edit.txt", "old");
  Write("chmod.txt", "c");
  Write("touch.txt", "t");
  Write("gone.txt", "12345");
  Write("gonedir/x", "xx");
  Write("becomes_link", "file");
  Write("becomes_file/inner", "in");
  fs::create_symlink("a", src_ + "/link");
  const std::string s1 = Snapshot();

  Write("edit.txt", "new, longer");
  fs::permissions(src_ + "/chmod.txt", fs::perms(0600));
  fs::last_write_time(src_ + "/touch.txt",
                      fs::last_write_time(src_ + "/touch.txt") - std::chrono::hours(1));
  fs::remove(src_ + "/gone.txt");
  fs::remove_all(src_ + "/gonedir");
  Write("new.txt", "abc");
  Write("newdir/y", "yyyy");
  fs::remove(src_ + "/becomes_link");
  fs::create_symlink("edit.txt", src_ + "/becomes_link");
  fs::remove_all(src_ + "/becomes_file");
  Write("becomes_file", "now a file");
  fs::remove(src_ + "/link");
  fs::create_symlink("b", src_ + "/link");
  const std::string s2 = Snapshot();

  RunResult r = Run({"diff", s1.substr(0, 8), "latest"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, char> got;  // changes under src_ (its parents' times change too)
  for (const std::string& line : test::SplitLines(r.out)) {
    if (line.size() > 5 && line.compare(5, src_.size(), src_) == 0) got[line.substr(5)] = line[0];
  }
  const std::string p = src_ + "/";
  std::map<std::string, char> want = {
      {p, 'U'},  // the directory's mtime
      {p + "becomes_file", 'T'},
      {p + "becomes_file/inner", '-'},
      {p + "becomes_link", 'T'},
      {p + "chmod.txt", 'U'},
      {p + "edit.txt", 'M'},
      {p + "gone.txt", '-'},
      {p + "gonedir/", '-'},
      {p + "gonedir/x", '-'},
      {p + "link", 'U'},
      {p + "new.txt", '+'},
      {p + "newdir/", '+'},
      {p + "newdir/y", '+'},
      {p + "touch.txt", 'U'},
  };
  EXPECT_EQ(got, want) << r.out;
  EXPECT_NE(r.out.find("Files:            2 new,     3 removed,     1 changed"), std::string::npos)
      << r.out;

  JsonValue j = Json(Run({"diff", s1, s2, "--json"}));
  EXPECT_EQ(j["before"].Str(), s1);
  EXPECT_EQ(j["after"].Str(), s2);
  std::map<std::string, std::vector<std::string>> what;
  for (const JsonValue& c : j["changes"].items()) what[c["path"].Str()] = c["what"].Strings();
  EXPECT_EQ(what[p + "chmod.txt"], std::vector<std::string>{"mode"});
  EXPECT_EQ(what[p + "touch.txt"], std::vector<std::string>{"mtime"});
  EXPECT_EQ(what[p + "edit.txt"].front(), "content");
  EXPECT_EQ(what[p + "becomes_link"], std::vector<std::string>{"type"});
  const std::vector<std::string> link = what[p + "link"];
  EXPECT_NE(std::find(link.begin(), link.end(), "link_target"), link.end());
  const JsonValue& st = j["stats"];
  EXPECT_EQ(st["files_added"].Int(), 2);    // new.txt, newdir/y
  EXPECT_EQ(st["files_removed"].Int(), 3);  // gone.txt, gonedir/x, becomes_file/inner
  EXPECT_EQ(st["files_modified"].Int(), 1);
  EXPECT_EQ(st["dirs_added"].Int(), 1);
  EXPECT_EQ(st["dirs_removed"].Int(), 1);
  EXPECT_EQ(st["type_changed"].Int(), 2);
  // new.txt 3 + y 4 + edit.txt 11 + becomes_file 10; gone 5 + x 2 + inner 2 + edit 3 + link 4.
  EXPECT_EQ(st["bytes_added"].Int(), 3 + 4 + 11 + 10);
  EXPECT_EQ(st["bytes_removed"].Int(), 5 + 2 + 2 + 3 + 4);

  r = Run({"diff", s1, s1});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.find("\n+"), std::string::npos) << r.out;
  EXPECT_EQ(Run({"diff", s1}).exit_code, 2);
  EXPECT_EQ(Run({"diff", s1, "abc"}).exit_code, 2);  // too short an id
}

// --- stats -----------------------------------------------------------------------------------

TEST_F(CmdsTest, StatsCountRestoreSizePerSnapshotAndStoredDataOnce) {
  Write("one", Random(20000, 1));
  Write("two", Random(30000, 2));
  Write("three", Random(50000, 3));
  const std::string s1 = Snapshot();
  const std::string s2 = Snapshot({"--force"});  // re-read: the same blobs, stored once

  JsonValue j = Json(Run({"stats", "--json"}));
  EXPECT_EQ(j["mode"].Str(), "restore-size");
  EXPECT_EQ(j["snapshots"].Int(), 2);
  EXPECT_EQ(j["restore_size"]["files"].Int(), 6);
  EXPECT_EQ(j["restore_size"]["bytes"].Int(), 200000);
  EXPECT_FALSE(j.Has("data_blobs"));
  EXPECT_EQ(j["repository"]["snapshots"].Int(), 2);
  EXPECT_GE(j["repository"]["packs"].Int(), 1);

  j = Json(Run({"stats", "--mode", "raw-data", "--json"}));
  EXPECT_EQ(j["restore_size"]["bytes"].Int(), 200000);
  EXPECT_EQ(j["data_blobs"]["raw_bytes"].Int(), 100000);
  EXPECT_GE(j["data_blobs"]["count"].Int(), 3);
  EXPECT_GE(j["data_blobs"]["stored_bytes"].Int(), 100000);  // random data does not compress
  EXPECT_GE(j["tree_blobs"]["count"].Int(), 3);  // at least /tmp, the test dir, src and the root
  EXPECT_EQ(j["blobs_missing"].Int(), 0);
  RunResult r = Run({"stats", "--mode", "raw-data", "--json"});
  EXPECT_NE(r.out.find("\"dedup_ratio\":2.000"), std::string::npos) << r.out;
  EXPECT_GE(j["repository"]["pack_bytes"].Int(),
            j["data_blobs"]["stored_bytes"].Int() + j["tree_blobs"]["stored_bytes"].Int());

  j = Json(Run({"stats", s1.substr(0, 8), "--json"}));
  EXPECT_EQ(j["snapshots"].Int(), 1);
  EXPECT_EQ(j["restore_size"]["files"].Int(), 3);
  EXPECT_EQ(j["restore_size"]["bytes"].Int(), 100000);

  r = Run({"stats", "latest", "--mode", "raw-data"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Deduplication:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.000x"), std::string::npos) << r.out;  // one snapshot: no dedup
  EXPECT_EQ(Run({"stats", "--mode", "bogus"}).exit_code, 2);
  (void)s2;
}

// --- tag -------------------------------------------------------------------------------------

TEST_F(CmdsTest, TagRewritesSnapshotRecords) {
  Write("f", "x");
  const std::string s1 = Snapshot({"--tag", "nightly"});
  const std::string s2 = Snapshot();

  RunResult r = Run({"tag", s1.substr(0, 8), "--add", "keep,monthly"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(s1.substr(0, 8) + " -> "), std::string::npos) << r.out;
  auto snaps = Snapshots();
  ASSERT_EQ(snaps.size(), 2u);
  const std::string t1 = snaps[0].first;  // still the older one: times are kept
  EXPECT_NE(t1, s1);
  EXPECT_EQ(snaps[0].second, (std::vector<std::string>{"nightly", "keep", "monthly"}));
  EXPECT_FALSE(fs::exists(cli_.repo() + "/snapshots/" + s1));
  EXPECT_TRUE(fs::exists(cli_.repo() + "/snapshots/" + t1));
  EXPECT_EQ(cli_.Snapshots()[0]["original"].Str(), s1);
  EXPECT_EQ(Snapshots({"--tag", "keep"}).size(), 1u);
  EXPECT_EQ(Run({"snapshots", s1.substr(0, 8)}).exit_code, 1);  // the old id is gone

  JsonValue j = Json(Run({"tag", t1, "--remove", "nightly", "--json"}));
  EXPECT_EQ(j["changed"].Int(), 1);
  EXPECT_EQ(j["snapshots"][0]["old_id"].Str(), t1);
  EXPECT_EQ(j["snapshots"][0]["original"].Str(), s1);  // kept across changes
  const std::string t2 = j["snapshots"][0]["new_id"].Str();
  EXPECT_EQ(j["snapshots"][0]["tags"].Strings(), (std::vector<std::string>{"keep", "monthly"}));

  r = Run({"tag", t2.substr(0, 8), "--set", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Snapshots({"--tag", "x"}).size(), 1u);
  EXPECT_TRUE(Snapshots({"--tag", "keep"}).empty());

  // Nothing to change: exit 0, nothing written.
  const auto before = cli_.FilesIn("snapshots");
  r = Run({"tag", "--tag", "x", "--add", "x"});  // selected by filter
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("no snapshot changed"), std::string::npos) << r.out;
  EXPECT_EQ(cli_.FilesIn("snapshots"), before);

  // 'latest' is still the newest by time, the untagged s2.
  r = Run({"tag", "latest", "--add", "z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(s2.substr(0, 8) + " -> "), std::string::npos) << r.out;
  snaps = Snapshots();
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[1].second, std::vector<std::string>{"z"});
  EXPECT_EQ(snaps[0].second, std::vector<std::string>{"x"});

  EXPECT_EQ(Run({"tag", "--add", "a"}).exit_code, 2);  // neither ids nor a filter
  EXPECT_EQ(Run({"tag", "latest"}).exit_code, 2);      // nothing to do
  EXPECT_EQ(Run({"tag", "latest", "--set", "a", "--add", "b"}).exit_code, 2);
  EXPECT_EQ(Snapshots().size(), 2u);
}

}  // namespace
}  // namespace repo
