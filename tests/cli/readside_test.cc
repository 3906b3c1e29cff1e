// The library side of the read-side commands, on hand-built trees in a memory repository:
// TreeSearch (find), DiffTrees (diff), CollectSnapshotStats (stats), RetagSnapshot (tag).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "repo/model/snapshot_tags.h"
#include "repo/model/tree_io.h"
#include "repo/query/repo_stats.h"
#include "repo/query/snapshot_diff.h"
#include "repo/query/tree_search.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

class ReadSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  Node File(const std::string& name, const std::string& content, uint32_t mode = 0644) {
    Node n;
    n.type = NodeType::kFile;
    n.name = name;
    n.mode = mode;
    n.mtime_ns = 1'700'000'000'000'000'000;
    n.size = content.size();
    n.nlink = 1;
    if (!content.empty()) {
      auto p = store_->Put(BlobType::kData, AsBytes(content));
      EXPECT_TRUE(p.ok());
      n.content.runs.push_back({p->id, content.size(), false});
    }
    return n;
  }
  static Node Symlink(const std::string& name, const std::string& target) {
    Node n;
    n.type = NodeType::kSymlink;
    n.name = name;
    n.mode = 0777;
    n.link_target = target;
    return n;
  }
  std::vector<Id> Tree(std::vector<Node> nodes) {
    std::sort(nodes.begin(), nodes.end(),
              [](const Node& a, const Node& b) { return a.name < b.name; });
    auto t = StoreTree(*store_, nodes);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? t->blobs : std::vector<Id>{};
  }
  Node Dir(const std::string& name, std::vector<Node> children, uint32_t mode = 0755) {
    Node n;
    n.type = NodeType::kDir;
    n.name = name;
    n.mode = mode;
    n.subtree = Tree(std::move(children));
    return n;
  }
  SnapshotRef Snap(const std::vector<Id>& root, std::vector<std::string> tags = {}) {
    EXPECT_TRUE(store_->Flush().ok());
    Snapshot s;
    s.time_ns = ++clock_;
    s.hostname = "host";
    s.paths = {"/"};
    s.tags = std::move(tags);
    s.tree = root;
    auto id = WriteSnapshot({storage_, repo_->keys().enc_key}, s);
    EXPECT_TRUE(id.ok());
    return {*id, s};
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
  int64_t clock_ = 1'000'000'000;
};

// --- find ------------------------------------------------------------------------------------

std::vector<std::string> Found(TreeSearch& search, const std::vector<Id>& root) {
  std::vector<std::string> out;
  Status s = search.Search(root, [&](const std::string& p, const Node&) { out.push_back(p); });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST_F(ReadSideTest, FindMatchesNamesAndPathsAndReusesSharedDirectories) {
  Node etc =
      Dir("etc", {File("hosts", "h"), File("passwd", "p"), Dir("ssh", {File("sshd.conf", "c")})});
  Node home = Dir("home", {Dir("ann", {File("notes.conf", "n"), File(".hidden.conf", "x")})});
  std::vector<Id> day1 = Tree({etc, home});
  std::vector<Id> day2 = Tree({etc, home, File("new.conf", "new")});

  TreeSearch names(*store_, {"*.conf"});  // '*' matches a leading dot, as in tar and restic
  EXPECT_EQ(Found(names, day1),
            (std::vector<std::string>{"/etc/ssh/sshd.conf", "/home/ann/.hidden.conf",
                                      "/home/ann/notes.conf"}));
  const uint64_t loaded = names.dirs_loaded();
  EXPECT_EQ(loaded, 5u);  // /, etc, ssh, home, ann
  EXPECT_EQ(Found(names, day2),
            (std::vector<std::string>{"/etc/ssh/sshd.conf", "/home/ann/.hidden.conf",
                                      "/home/ann/notes.conf", "/new.conf"}));
  EXPECT_EQ(names.dirs_loaded(), loaded + 1);  // only the new root: etc and home are shared
  EXPECT_EQ(Found(names, day1).size(), 3u);
  EXPECT_EQ(names.dirs_loaded(), loaded + 1);

  TreeSearch paths(*store_, {"/etc/*"});  // '*' crosses '/', as in --exclude
  EXPECT_EQ(Found(paths, day1), (std::vector<std::string>{"/etc/hosts", "/etc/passwd", "/etc/ssh",
                                                          "/etc/ssh/sshd.conf"}));
  TreeSearch dirs(*store_, {"ssh", "ann"});
  EXPECT_EQ(Found(dirs, day2), (std::vector<std::string>{"/etc/ssh", "/home/ann"}));
  TreeSearch none(*store_, {"*.jpg"});
  EXPECT_TRUE(Found(none, day2).empty());
}

TEST_F(ReadSideTest, FindReportsAnUnreadableTree) {
  Node broken;
  broken.type = NodeType::kDir;
  broken.name = "lost";
  broken.subtree = {Id()};  // no such blob
  TreeSearch search(*store_, {"x"});
  Status s = search.Search(Tree({broken}), [](const std::string&, const Node&) {});
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();  // damage: exit 13
}

// --- diff ------------------------------------------------------------------------------------

struct Diffed {
  std::map<std::string, std::string> changes;  // path -> modifier + what
  DiffStats stats;
};

Diffed Diff(BlobStore& store, const std::vector<Id>& a, const std::vector<Id>& b) {
  Diffed d;
  std::vector<std::string> order;
  Status s = DiffTrees(
      store, a, b,
      [&](const TreeChange& c) {
        std::string v(1, ChangeModifier(c.kind));
        for (const auto& w : c.what) v += " " + w;
        d.changes[c.path] = v;
        order.push_back(c.path);
      },
      &d.stats);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "depth-first name order";
  return d;
}

TEST_F(ReadSideTest, DiffReportsEveryKindOfChange) {
  Node unchanged = Dir("same", {File("big", std::string(1000, 'b'))});
  Node owner = File("owner", "o");
  Node owner2 = owner;
  owner2.uid = 1000;
  owner2.user = "ann";
  Node xattr = File("xattr", "x");
  Node xattr2 = xattr;
  xattr2.xattrs = {{"user.k", "v"}};
  Node touched = File("touched", "t");
  Node touched2 = touched;
  touched2.mtime_ns += 1;
  touched2.ctime_ns += 5;  // ctime alone is never reported
  Node gone_dir = Dir("gonedir", {File("a", "aa"), Dir("sub", {File("b", "bbb")})});
  std::vector<Id> before = Tree({
      unchanged,
      File("edit", "old content"),
      File("chmod", "c", 0644),
      owner,
      xattr,
      touched,
      Symlink("link", "/a"),
      File("gone", "12345"),
      gone_dir,
      File("becomes_link", "file!"),
      Dir("becomes_file", {File("inner", "in")}),
      Dir("meta_dir", {}, 0755),
      Dir("changed_dir", {File("f", "1")}),
  });
  std::vector<Id> after = Tree({
      unchanged,
      File("edit", "new content, longer"),
      File("chmod", "c", 0600),
      owner2,
      xattr2,
      touched2,
      Symlink("link", "/b"),
      File("fresh", "123"),
      Dir("freshdir", {File("c", "cccc"), Symlink("l", "c")}),
      Symlink("becomes_link", "/x"),
      File("becomes_file", "now a file"),
      Dir("meta_dir", {}, 0700),
      Dir("changed_dir", {File("f", "2")}),
  });
  Diffed d = Diff(*store_, before, after);
  std::map<std::string, std::string> want = {
      {"/becomes_file", "T type"},
      {"/becomes_file/inner", "-"},
      {"/becomes_link", "T type"},
      {"/changed_dir/f", "M content"},
      {"/chmod", "U mode"},
      {"/edit", "M content"},
      {"/fresh", "+"},
      {"/freshdir", "+"},
      {"/freshdir/c", "+"},
      {"/freshdir/l", "+"},
      {"/gone", "-"},
      {"/gonedir", "-"},
      {"/gonedir/a", "-"},
      {"/gonedir/sub", "-"},
      {"/gonedir/sub/b", "-"},
      {"/link", "U link_target"},
      {"/meta_dir", "U mode"},
      {"/owner", "U owner"},
      {"/touched", "U mtime"},
      {"/xattr", "U xattrs"},
  };
  EXPECT_EQ(d.changes, want);
  const DiffStats& s = d.stats;
  EXPECT_EQ(s.added.files, 2u);    // fresh, freshdir/c
  EXPECT_EQ(s.added.dirs, 1u);     // freshdir
  EXPECT_EQ(s.added.others, 1u);   // freshdir/l
  EXPECT_EQ(s.removed.files, 4u);  // gone, gonedir/a, gonedir/sub/b, becomes_file/inner
  EXPECT_EQ(s.removed.dirs, 2u);   // gonedir, gonedir/sub
  EXPECT_EQ(s.modified, 2u);
  EXPECT_EQ(s.metadata, 6u);
  EXPECT_EQ(s.type_changed, 2u);
  // added − removed is the change in restore size.
  auto total = [&](const std::vector<Id>& root) {
    SnapshotRef ref;
    ref.snapshot.tree = root;
    auto st = CollectSnapshotStats(*store_, {ref}, false);
    EXPECT_TRUE(st.ok());
    return static_cast<int64_t>(st->restore.bytes);
  };
  EXPECT_EQ(static_cast<int64_t>(s.bytes_added) - static_cast<int64_t>(s.bytes_removed),
            total(after) - total(before));
  EXPECT_EQ(s.bytes_added, 19u + 1 + 3 + 4 + 10);  // edit, changed_dir/f, fresh, c, becomes_file

  // The reverse diff swaps + and -.
  Diffed r = Diff(*store_, after, before);
  EXPECT_EQ(r.changes["/fresh"], "-");
  EXPECT_EQ(r.changes["/gonedir/sub/b"], "+");
  EXPECT_EQ(r.stats.bytes_added, s.bytes_removed);
}

TEST_F(ReadSideTest, DiffSkipsIdenticalSubtreesWithoutLoadingThem) {
  // A directory whose tree blob does not exist: loading it would fail, so an OK diff proves the
  // equal subtree ids were compared instead.
  Node phantom;
  phantom.type = NodeType::kDir;
  phantom.name = "huge";
  phantom.subtree = {Id()};
  std::vector<Id> a = Tree({phantom, File("x", "1")});
  std::vector<Id> b = Tree({phantom, File("x", "2")});
  Diffed d = Diff(*store_, a, b);
  EXPECT_EQ(d.changes, (std::map<std::string, std::string>{{"/x", "M content"}}));
  EXPECT_TRUE(Diff(*store_, a, a).changes.empty());
}

// --- stats -----------------------------------------------------------------------------------

TEST_F(ReadSideTest, StatsCountRestoreSizePerSnapshotAndBlobsOnce) {
  const std::string a(5000, 'a'), b(7000, 'b'), c(9000, 'c');
  Node linked = File("one", "linked content");
  linked.nlink = 2;
  linked.inode = 77;
  linked.device = 1;
  Node linked2 = linked;
  linked2.name = "two";
  std::vector<Id> root = Tree({File("a", a), Dir("d", {File("b", b), File("c", c), linked}),
                               Dir("e", {linked2}), Symlink("s", "a")});
  SnapshotRef s1 = Snap(root), s2 = Snap(root);

  auto one = CollectSnapshotStats(*store_, {s1}, true);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->restore.files, 4u);  // a, b, c and the hard-linked file once
  EXPECT_EQ(one->restore.dirs, 2u);
  EXPECT_EQ(one->restore.others, 1u);
  EXPECT_EQ(one->restore.bytes, 5000u + 7000 + 9000 + 14);
  EXPECT_EQ(one->data.count, 4u);
  EXPECT_EQ(one->data.raw_bytes, 5000u + 7000 + 9000 + 14);
  EXPECT_GT(one->data.stored_bytes, 0u);
  EXPECT_LT(one->data.stored_bytes, one->data.raw_bytes);  // runs of one byte compress
  EXPECT_EQ(one->tree.count, 3u);                          // root, d, e

  auto two = CollectSnapshotStats(*store_, {s1, s2}, true);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->snapshots, 2u);
  EXPECT_EQ(two->restore.files, 8u);
  EXPECT_EQ(two->restore.bytes, 2 * one->restore.bytes);
  EXPECT_EQ(two->data.count, one->data.count);
  EXPECT_EQ(two->data.raw_bytes, one->data.raw_bytes);
  EXPECT_EQ(two->tree.count, 3u);
  EXPECT_EQ(two->blobs_missing, 0u);

  auto without = CollectSnapshotStats(*store_, {s1, s2}, false);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->restore.bytes, two->restore.bytes);
  EXPECT_EQ(without->data.count, 0u);

  auto totals = CollectRepositoryTotals(storage_);
  ASSERT_TRUE(totals.ok());
  EXPECT_EQ(totals->snapshots, 2u);
  EXPECT_GE(totals->packs, 1u);
  EXPECT_GT(totals->pack_bytes, two->data.stored_bytes + two->tree.stored_bytes);
}

// --- tag -------------------------------------------------------------------------------------

TagEdit Set(std::vector<std::string> tags) {
  TagEdit e;
  e.set = std::move(tags);
  return e;
}
TagEdit Add(std::vector<std::string> tags) {
  TagEdit e;
  e.add = std::move(tags);
  return e;
}
TagEdit Remove(std::vector<std::string> tags) {
  TagEdit e;
  e.remove = std::move(tags);
  return e;
}

TEST(TagEditTest, AppliesSetThenAddThenRemove) {
  const std::vector<std::string> tags = {"a", "b"};
  EXPECT_EQ(ApplyTagEdit(tags, Add({"c", "a"})), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ApplyTagEdit(tags, Remove({"a", "zzz"})), (std::vector<std::string>{"b"}));
  EXPECT_EQ(ApplyTagEdit(tags, Set({"x", "x", "y"})), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(ApplyTagEdit(tags, Set({})).empty());
  EXPECT_EQ(SplitTagList({"a,b", ",c,", ""}), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(ReadSideTest, RetagWritesANewRecordThenRemovesTheOld) {
  SnapshotRef s = Snap(Tree({File("f", "x")}), {"nightly"});
  auto r = RetagSnapshot({storage_, repo_->keys().enc_key}, s, Add({"keep"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->changed);
  EXPECT_NE(r->new_id, s.id);
  EXPECT_TRUE(storage_.Stat({FileType::kSnapshot, s.id.Hex()}).status().IsNotFound());
  auto stored = ReadSnapshot({storage_, repo_->keys().enc_key}, r->new_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->tags, (std::vector<std::string>{"nightly", "keep"}));
  EXPECT_EQ(stored->original, s.id);
  EXPECT_EQ(stored->time_ns, s.snapshot.time_ns);
  EXPECT_EQ(stored->tree, s.snapshot.tree);

  // A second change keeps the first id as `original`.
  auto again =
      RetagSnapshot({storage_, repo_->keys().enc_key}, {r->new_id, *stored}, Remove({"nightly"}));
  ASSERT_TRUE(again.ok());
  auto stored2 = ReadSnapshot({storage_, repo_->keys().enc_key}, again->new_id);
  ASSERT_TRUE(stored2.ok());
  EXPECT_EQ(stored2->original, s.id);
  EXPECT_EQ(storage_.List(FileType::kSnapshot)->size(), 1u);

  // Nothing to change: nothing written.
  auto same =
      RetagSnapshot({storage_, repo_->keys().enc_key}, {again->new_id, *stored2}, Add({"keep"}));
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->new_id, again->new_id);
  EXPECT_EQ(storage_.List(FileType::kSnapshot)->size(), 1u);
}

TEST_F(ReadSideTest, RetagThatCannotWriteKeepsTheOldRecord) {
  SnapshotRef s = Snap(Tree({File("f", "x")}));
  test::FaultyBackend faulty(storage_);
  faulty.FailWritesOf(FileType::kSnapshot);
  auto r = RetagSnapshot({faulty, repo_->keys().enc_key}, s, Add({"t"}));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(storage_.Stat({FileType::kSnapshot, s.id.Hex()}).ok());
}

}  // namespace
}  // namespace repo
