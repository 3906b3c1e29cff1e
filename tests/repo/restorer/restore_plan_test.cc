// RestoreWalk (repo/restorer/restore_plan.h) on hand-built trees in a memory repository: what
// `repo restore` creates, and where, for a whole snapshot, --include and --exclude, and hardlink
// groups; the target prefix, the end of each directory, and a tree that cannot be loaded.
#include "repo/restorer/restore_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using Paths = std::vector<std::string>;

constexpr char kTarget[] = "/restore/here";

// The steps of a walk sorted by kind, each list in walk order (the restorer takes them a batch
// at a time), with the totals restore's progress counts.
struct RestorePlan {
  std::vector<std::pair<std::string, Node>> dirs;
  std::vector<PlannedFile> files;
  std::vector<std::pair<std::string, Node>> others;
  std::vector<std::pair<std::string, std::string>> links;
  Paths done;  // kDirDone
  uint64_t total_files = 0;
  uint64_t total_bytes = 0;
};

Result<RestorePlan> PlanRestore(BlobStore& store, const std::vector<Id>& root,
                                const RestoreOptions& o) {
  RestoreWalk walk(store, root, o);
  RestorePlan plan;
  for (RestoreStep step;;) {
    ASSIGN_OR_RETURN(bool more, walk.Next(&step));
    if (!more) return plan;
    switch (step.kind) {
      case RestoreStep::Kind::kDir:
        plan.dirs.emplace_back(step.path, step.node);
        break;
      case RestoreStep::Kind::kFile:
        ++plan.total_files;
        plan.total_bytes += step.node.size;
        plan.files.push_back({step.path, step.node});
        break;
      case RestoreStep::Kind::kOther:
        plan.others.emplace_back(step.path, step.node);
        break;
      case RestoreStep::Kind::kLink:
        plan.links.emplace_back(step.path, step.link_to);
        break;
      case RestoreStep::Kind::kDirDone:
        plan.done.push_back(step.path);
        break;
    }
  }
}

class RestorePlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  Node File(const std::string& name, const std::string& content) {
    Node n;
    n.type = NodeType::kFile;
    n.name = name;
    n.mode = 0644;
    n.size = content.size();
    n.nlink = 1;
    n.inode = ++next_inode_;
    n.device = 1;
    if (!content.empty()) {
      auto p = store_->Put(BlobType::kData, AsBytes(content));
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      if (p.ok()) n.content.runs.push_back({p->id, content.size(), false});
    }
    return n;
  }
  // A file of `size` bytes that is all hole.
  static Node SparseFile(const std::string& name, uint64_t size) {
    Node n;
    n.type = NodeType::kFile;
    n.name = name;
    n.mode = 0600;
    n.size = size;
    n.nlink = 1;
    n.content.runs.push_back({Id(), size, true});
    return n;
  }
  // One path of a hardlink group: a file with (device, inode) and nlink.
  Node Linked(const std::string& name, const std::string& content, uint64_t device, uint64_t inode,
              uint32_t nlink) {
    Node n = File(name, content);
    n.device = device;
    n.inode = inode;
    n.nlink = nlink;
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
  static Node Fifo(const std::string& name) {
    Node n;
    n.type = NodeType::kFifo;
    n.name = name;
    n.mode = 0640;
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

  // The plan of `root` into kTarget; fails the test (and gives an empty plan) on an error.
  RestorePlan Plan(const std::vector<Id>& root, std::vector<std::string> includes = {},
                   std::vector<std::string> excludes = {}) {
    RestoreOptions o;
    o.target = kTarget;
    o.includes = std::move(includes);
    o.excludes = std::move(excludes);
    auto plan = PlanRestore(*store_, root, o);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? std::move(plan).value() : RestorePlan{};
  }

  // A tree with siblings at every level of a deep file:
  //   /a/b/c/deep.txt  /a/b/c/other  /a/b/empty/  /a/b/sib/f  /a/b/ln -> c  /a/x  /top/y
  std::vector<Id> DeepTree() {
    return Tree(
        {Dir("a", {Dir("b", {Dir("c", {File("deep.txt", "deep"), File("other", "o")}),
                             Dir("empty", {}), Dir("sib", {File("f", "f")}), Symlink("ln", "c")}),
                   File("x", "x")}),
         Dir("top", {File("y", "y")})});
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
  uint64_t next_inode_ = 1000;
};

// Target paths: kTarget followed by each snapshot path.
Paths Targets(const Paths& snapshot_paths) {
  Paths out;
  for (const auto& p : snapshot_paths) out.push_back(kTarget + p);
  return out;
}

template <typename T>
Paths PathsOf(const std::vector<std::pair<std::string, T>>& entries) {
  Paths out;
  for (const auto& e : entries) out.push_back(e.first);
  return out;
}

Paths PathsOf(const std::vector<PlannedFile>& files) {
  Paths out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

TEST_F(RestorePlanTest, WithoutPatternsEverythingIsPlannedInTreeOrderParentsFirst) {
  std::vector<Id> root = Tree({
      Dir("a", {Dir("b", {File("f1", "hello"), Dir("deeper", {})}, 0700), Symlink("link", "b/f1"),
                File("z.txt", "zz")}),
      Dir("empty", {}),
      Fifo("fifo"),
      File("top", "top level"),
      SparseFile("sparse", 1 << 20),
  });
  RestorePlan plan = Plan(root);

  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/a/b", "/a/b/deeper", "/empty"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/b/f1", "/a/z.txt", "/sparse", "/top"}));
  EXPECT_EQ(PathsOf(plan.others), Targets({"/a/link", "/fifo"}));
  EXPECT_TRUE(plan.links.empty());

  // Each entry carries its node, for the metadata and content restore applies.
  ASSERT_EQ(plan.dirs.size(), 4u);
  EXPECT_EQ(plan.dirs[1].second.name, "b");
  EXPECT_EQ(plan.dirs[1].second.mode, 0700u);
  ASSERT_EQ(plan.others.size(), 2u);
  EXPECT_EQ(plan.others[0].second.type, NodeType::kSymlink);
  EXPECT_EQ(plan.others[0].second.link_target, "b/f1");
  EXPECT_EQ(plan.others[1].second.type, NodeType::kFifo);
  ASSERT_EQ(plan.files.size(), 4u);
  EXPECT_EQ(plan.files[0].node.size, 5u);
  ASSERT_EQ(plan.files[0].node.content.runs.size(), 1u);
  EXPECT_FALSE(plan.files[0].node.content.runs[0].hole);

  // Totals count logical sizes (a sparse file's too).
  EXPECT_EQ(plan.total_files, 4u);
  EXPECT_EQ(plan.total_bytes, 5u + 2u + (1u << 20) + 9u);
}

TEST_F(RestorePlanTest, TheTargetPrefixesEveryPathAndAnEmptyTargetIsTheRoot) {
  std::vector<Id> root = Tree({Dir("d", {File("f", "x"), Symlink("s", "f"),
                                         Linked("h1", "x", 9, 9, 2), Linked("h2", "x", 9, 9, 2)})});
  RestoreOptions o;
  o.target = "/srv/restored";
  auto plan = PlanRestore(*store_, root, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(PathsOf(plan->dirs), (Paths{"/srv/restored/d"}));
  EXPECT_EQ(PathsOf(plan->files), (Paths{"/srv/restored/d/f", "/srv/restored/d/h1"}));
  EXPECT_EQ(PathsOf(plan->others), (Paths{"/srv/restored/d/s"}));
  EXPECT_EQ(plan->links, (std::vector<std::pair<std::string, std::string>>{
                             {"/srv/restored/d/h2", "/srv/restored/d/h1"}}));

  o.target = "";  // restoring to /: the snapshot's own paths
  plan = PlanRestore(*store_, root, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(PathsOf(plan->dirs), (Paths{"/d"}));
  EXPECT_EQ(PathsOf(plan->files), (Paths{"/d/f", "/d/h1"}));
  EXPECT_EQ(PathsOf(plan->others), (Paths{"/d/s"}));
  EXPECT_EQ(plan->links, (std::vector<std::pair<std::string, std::string>>{{"/d/h2", "/d/h1"}}));
}

TEST_F(RestorePlanTest, IncludingADeepFileCreatesOnlyItsAncestors) {
  RestorePlan plan = Plan(DeepTree(), {"/a/b/c/deep.txt"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/a/b", "/a/b/c"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/b/c/deep.txt"}));
  EXPECT_TRUE(plan.others.empty());
  EXPECT_TRUE(plan.links.empty());
  EXPECT_EQ(plan.total_files, 1u);
  EXPECT_EQ(plan.total_bytes, 4u);
  // The ancestors keep their own nodes (restore applies their metadata too).
  ASSERT_EQ(plan.dirs.size(), 3u);
  EXPECT_EQ(plan.dirs[0].second.name, "a");
  EXPECT_EQ(plan.dirs[2].second.name, "c");
}

TEST_F(RestorePlanTest, IncludingADirectorySelectsEverythingBelowIt) {
  RestorePlan plan = Plan(DeepTree(), {"/a/b"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/a/b", "/a/b/c", "/a/b/empty", "/a/b/sib"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/b/c/deep.txt", "/a/b/c/other", "/a/b/sib/f"}));
  EXPECT_EQ(PathsOf(plan.others), Targets({"/a/b/ln"}));
  EXPECT_EQ(plan.total_files, 3u);
}

TEST_F(RestorePlanTest, AnIncludedNameCreatesTheAncestorsOfEachMatchOnly) {
  // A pattern without '/' matches a name in any directory.
  RestorePlan plan = Plan(DeepTree(), {"f", "y"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/a/b", "/a/b/sib", "/top"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/b/sib/f", "/top/y"}));
  EXPECT_TRUE(plan.others.empty());
}

TEST_F(RestorePlanTest, AnIncludeMatchingNothingPlansNothing) {
  RestorePlan plan = Plan(DeepTree(), {"/nowhere/*"});
  EXPECT_TRUE(plan.dirs.empty());
  EXPECT_TRUE(plan.files.empty());
  EXPECT_TRUE(plan.others.empty());
  EXPECT_EQ(plan.total_files, 0u);
  EXPECT_EQ(plan.total_bytes, 0u);
}

TEST_F(RestorePlanTest, ExcludingADirectoryDropsEverythingBelowIt) {
  RestorePlan plan = Plan(DeepTree(), {}, {"/a/b/c"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/a/b", "/a/b/empty", "/a/b/sib", "/top"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/b/sib/f", "/a/x", "/top/y"}));
  EXPECT_EQ(PathsOf(plan.others), Targets({"/a/b/ln"}));  // a symlink into it stays a symlink

  // By name: every directory called "b" goes, with all below it.
  plan = Plan(DeepTree(), {}, {"b"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/top"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/x", "/top/y"}));
  EXPECT_TRUE(plan.others.empty());
}

TEST_F(RestorePlanTest, ExcludeWinsOverInclude) {
  RestorePlan plan = Plan(DeepTree(), {"/a/b"}, {"/a/b/c", "ln"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/a", "/a/b", "/a/b/empty", "/a/b/sib"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/a/b/sib/f"}));
  EXPECT_TRUE(plan.others.empty());

  // The only included file excluded: not even its ancestors are created.
  plan = Plan(DeepTree(), {"/a/b/c/deep.txt"}, {"*.txt"});
  EXPECT_TRUE(plan.dirs.empty());
  EXPECT_TRUE(plan.files.empty());
  EXPECT_EQ(plan.total_files, 0u);
}

TEST_F(RestorePlanTest, HardlinkedPathsAreLinkedToTheFirstRestored) {
  // Three paths of one inode (device 5), two of another with the same inode number on device 6,
  // and a file with nlink 1.
  std::vector<Id> root = Tree({
      Dir("d1", {Linked("h", "shared", 5, 42, 3), File("single", "s")}),
      Dir("d2", {Linked("h2", "shared", 5, 42, 3), Linked("h3", "shared", 5, 42, 3),
                 Linked("x", "other device", 6, 42, 2)}),
      Dir("e", {Linked("x2", "other device", 6, 42, 2)}),
  });
  RestorePlan plan = Plan(root);
  EXPECT_EQ(PathsOf(plan.files), Targets({"/d1/h", "/d1/single", "/d2/x"}));
  EXPECT_EQ(plan.links, (std::vector<std::pair<std::string, std::string>>{
                            {kTarget + std::string("/d2/h2"), kTarget + std::string("/d1/h")},
                            {kTarget + std::string("/d2/h3"), kTarget + std::string("/d1/h")},
                            {kTarget + std::string("/e/x2"), kTarget + std::string("/d2/x")},
                        }));
  // A link's directory is created like any other entry's.
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/d1", "/d2", "/e"}));
  EXPECT_TRUE(plan.others.empty());
  // Each group's content counts once.
  EXPECT_EQ(plan.total_files, 3u);
  EXPECT_EQ(plan.total_bytes, 6u + 1u + 12u);
}

TEST_F(RestorePlanTest, AHardlinkGroupWhoseFirstPathIsNotSelectedRestoresTheNextSelectedOne) {
  std::vector<Id> root = Tree({
      Dir("d1", {Linked("h", "shared", 5, 42, 3)}),
      Dir("d2", {Linked("h2", "shared", 5, 42, 3), Linked("h3", "shared", 5, 42, 3)}),
  });
  RestorePlan plan = Plan(root, {}, {"/d1"});
  EXPECT_EQ(PathsOf(plan.dirs), Targets({"/d2"}));
  EXPECT_EQ(PathsOf(plan.files), Targets({"/d2/h2"}));
  EXPECT_EQ(plan.links, (std::vector<std::pair<std::string, std::string>>{
                            {kTarget + std::string("/d2/h3"), kTarget + std::string("/d2/h2")}}));
  EXPECT_EQ(plan.total_files, 1u);
  EXPECT_EQ(plan.total_bytes, 6u);

  // Only the last path included: it is a plain file, with nothing to link.
  plan = Plan(root, {"/d2/h3"});
  EXPECT_EQ(PathsOf(plan.files), Targets({"/d2/h3"}));
  EXPECT_TRUE(plan.links.empty());
}

// Restore applies a directory's metadata at its kDirDone: after everything inside it, so deepest
// first, and only for directories it created.
TEST_F(RestorePlanTest, EachCreatedDirectoryEndsAfterEverythingInsideIt) {
  RestoreOptions o;
  o.target = kTarget;
  RestoreWalk walk(*store_, DeepTree(), o);
  Paths order;
  for (RestoreStep step;;) {
    auto more = walk.Next(&step);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    order.push_back((step.kind == RestoreStep::Kind::kDirDone ? "done " : "") +
                    step.path.substr(std::string(kTarget).size()));
  }
  EXPECT_EQ(order, (Paths{"/a", "/a/b", "/a/b/c", "/a/b/c/deep.txt", "/a/b/c/other", "done /a/b/c",
                          "/a/b/empty", "done /a/b/empty", "/a/b/ln", "/a/b/sib", "/a/b/sib/f",
                          "done /a/b/sib", "done /a/b", "/a/x", "done /a", "/top", "/top/y",
                          "done /top"}));

  RestorePlan plan = Plan(DeepTree(), {"/a/b/c/deep.txt"});
  EXPECT_EQ(plan.done, Targets({"/a/b/c", "/a/b", "/a"}));
}

TEST_F(RestorePlanTest, ATreeThatCannotBeLoadedStopsThePlan) {
  Node lost;
  lost.type = NodeType::kDir;
  lost.name = "lost";
  lost.subtree = {Id()};  // no such blob
  RestoreOptions o;
  o.target = kTarget;
  auto plan = PlanRestore(*store_, Tree({File("a", "a"), lost}), o);
  EXPECT_TRUE(plan.status().IsCorruption()) << plan.status().ToString();  // damage: exit 13
}

TEST(RestoreSelectsTest, IncludesKeepAncestorsAndDescendantsAndExcludesWin) {
  RestoreOptions o;
  EXPECT_TRUE(RestoreSelects(o, "/anything", false));
  o.includes = {"/a/b"};
  EXPECT_TRUE(RestoreSelects(o, "/a", true));  // may lead to /a/b
  EXPECT_FALSE(RestoreSelects(o, "/a/x", false));
  EXPECT_TRUE(RestoreSelects(o, "/a/b", true));
  EXPECT_TRUE(RestoreSelects(o, "/a/b/c/d", false));  // under a match
  o.excludes = {"d"};
  EXPECT_FALSE(RestoreSelects(o, "/a/b/c/d", false));
  EXPECT_TRUE(RestoreSelects(o, "/a/b/c/e", false));
}

}  // namespace
}  // namespace repo
