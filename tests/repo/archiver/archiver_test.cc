// RunSnapshot (repo/archiver/archiver.h) against parents of format 1: an unchanged file whose
// parent held more runs inline than a version 2 node may is reused without reading it, its runs
// stored as a content list; the new snapshot restores, and diff sees no change.
#include "repo/archiver/archiver.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "repo/model/tree_io.h"
#include "repo/query/snapshot_diff.h"
#include "repo/restorer/restorer.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

// The tree `root` (version 2) rewritten as format 1 wrote it: listings whole (one piece each,
// these are small) and every file's runs inline.
Result<std::vector<Id>> AsFormat1(BlobStore& store, const std::vector<Id>& root) {
  ASSIGN_OR_RETURN(std::vector<Node> nodes, LoadTree(store, root, "tree"));
  for (Node& n : nodes) {
    if (n.type == NodeType::kDir) {
      ASSIGN_OR_RETURN(n.subtree, AsFormat1(store, n.subtree));
    } else if (n.type == NodeType::kFile) {
      ASSIGN_OR_RETURN(n.content.runs, LoadContent(store, n, n.name));
      n.content.list.reset();
    }
  }
  ASSIGN_OR_RETURN(Bytes listing, EncodeTreeV1(nodes));
  ASSIGN_OR_RETURN(PutResult put, store.Put(BlobType::kTree, listing));
  return std::vector<Id>{put.id};
}

TEST(ArchiverTest, AFormat1ParentsUnchangedLongFileIsReusedAsAContentList) {
  test::TempDir dir;
  MemoryBackend storage;
  auto repo = test::InitSmallRepo(storage, dir.Sub("cache"), "pw");
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  const std::string src = dir.Sub("src");
  std::filesystem::create_directories(src);
  const Bytes big = test::RandomBytes(20 << 20, 5);  // ~320 runs of the small chunker
  test::WriteFile(src + "/big.bin", std::string(AsChars(big)));
  SnapshotOptions opts;
  opts.paths = {src};
  auto first = RunSnapshot(**repo, opts, nullptr, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  // The same snapshot as format 1 wrote it, as the newest: the next one's parent.
  BlobStore* store = *(*repo)->blobs();
  Snapshot v1 = first->snapshot;
  auto tree = AsFormat1(*store, v1.tree);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  ASSERT_TRUE(store->Flush().ok());
  v1.tree = *tree;
  v1.time_ns += 1;
  auto v1_id = WriteSnapshot((*repo)->metadata(), v1);
  ASSERT_TRUE(v1_id.ok()) << v1_id.status().ToString();

  opts.parent = *v1_id;
  auto second = RunSnapshot(**repo, opts, nullptr, {});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->snapshot.summary.files_unchanged, 1u);
  EXPECT_EQ(second->snapshot.summary.bytes_read, 0u) << "nothing is read again";

  // Across the format boundary the file is the same, though held inline on one side and listed
  // on the other: diff reports no content change.
  bool modified = false;
  ASSERT_TRUE(DiffTrees(
                  *store, v1.tree, second->snapshot.tree,
                  [&](const TreeChange& c) { modified |= c.kind == ChangeKind::kModified; },
                  nullptr)
                  .ok());
  EXPECT_FALSE(modified);

  RestoreOptions restore;
  restore.target = dir.Sub("out");
  restore.verify = true;
  auto r = RestoreSnapshot(**repo, second->snapshot, restore, nullptr, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(test::ReadFile(restore.target + src + "/big.bin"), std::string(AsChars(big)));
}

}  // namespace
}  // namespace repo
