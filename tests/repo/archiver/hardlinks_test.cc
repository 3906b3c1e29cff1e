// The hardlink table's decisions (repo/archiver/hardlinks.h): the first link met is read, a later
// equal link waits for it or takes its content, a changed link is read on its own, a first link
// that gives no content makes the next link be read, and inodes are forgotten once all their
// links were met.
#include "repo/archiver/hardlinks.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace repo {
namespace {

using Decision = HardlinkTable::Decision;

// A link named `name` of inode `inode` (device 1) with `nlink` links and the same stat as the
// others unless changed by the caller.
Node Link(const std::string& name, uint64_t inode, uint32_t nlink) {
  Node n;
  n.type = NodeType::kFile;
  n.name = name;
  n.device = 1;
  n.inode = inode;
  n.nlink = nlink;
  n.size = 100000;
  n.mtime_ns = 1700000000000000001;
  n.ctime_ns = 1700000000000000002;
  return n;
}

// Content as a completed read gives it: one data run and one hole.
// Inline runs, or (odd tags) a content list: links share either form.
FileContent SomeContent(uint8_t tag) {
  Id id;
  id.data()[0] = tag;
  if (tag % 2 == 1) return FileContent{{}, id};
  return FileContent{{ContentRun{id, 60000, false}, ContentRun{Id(), 40000, true}}, std::nullopt};
}

Node Completed(Node first, uint8_t tag) {
  first.content = SomeContent(tag);
  return first;
}

TEST(HardlinkTableTest, LaterEqualLinkWaitsForTheFirstAndGetsItsContent) {
  HardlinkTable table;
  auto dir = std::make_shared<DirState>();
  Node a = Link("a", 7, 3);
  EXPECT_EQ(table.Follow(a, dir, 0), Decision::kReadFirst);
  Node b = Link("b", 7, 3);
  EXPECT_EQ(table.Follow(b, dir, 4), Decision::kWaits);  // the table holds b now

  std::vector<LinkFollower> followers = table.Share(Completed(a, 1));
  ASSERT_EQ(followers.size(), 1u);
  EXPECT_EQ(followers[0].node.name, "b");
  EXPECT_EQ(followers[0].node.content, SomeContent(1));
  EXPECT_EQ(followers[0].dir, dir);
  EXPECT_EQ(followers[0].slot, 4u);

  // The third and last link takes the content at once; then the inode is forgotten.
  Node c = Link("c", 7, 3);
  EXPECT_EQ(table.Follow(c, dir, 5), Decision::kTaken);
  EXPECT_EQ(c.content, SomeContent(1));
  EXPECT_EQ(c.name, "c");
  EXPECT_EQ(table.size(), 0u);
}

TEST(HardlinkTableTest, SeveralLinksWaitAndAreHandedBackInOrder) {
  HardlinkTable table;
  Node a = Link("a", 7, 4);
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  for (const char* name : {"b", "c", "d"}) {
    Node n = Link(name, 7, 4);
    EXPECT_EQ(table.Follow(n, nullptr, 0), Decision::kWaits);
  }
  std::vector<LinkFollower> followers = table.Share(Completed(a, 2));
  ASSERT_EQ(followers.size(), 3u);
  EXPECT_EQ(followers[0].node.name, "b");
  EXPECT_EQ(followers[2].node.name, "d");
  for (const LinkFollower& f : followers) EXPECT_EQ(f.node.content, SomeContent(2));
  EXPECT_EQ(table.size(), 0u);  // all four links met: forgotten on Share
}

TEST(HardlinkTableTest, LinkMetAfterTheFirstCompletedTakesItsContentAtOnce) {
  HardlinkTable table;
  Node a = Link("a", 7, 2);
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  EXPECT_TRUE(table.Share(Completed(a, 3)).empty());
  EXPECT_EQ(table.size(), 1u);  // one link still to meet
  Node b = Link("b", 7, 2);
  EXPECT_EQ(table.Follow(b, nullptr, 0), Decision::kTaken);
  EXPECT_EQ(b.content, SomeContent(3));
  EXPECT_EQ(table.size(), 0u);
}

TEST(HardlinkTableTest, ChangedLinkIsReadOnItsOwn) {
  HardlinkTable table;
  Node a = Link("a", 7, 5);
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  Node bigger = Link("bigger", 7, 5);
  bigger.size += 1;
  Node touched = Link("touched", 7, 5);
  touched.mtime_ns += 1;
  Node changed = Link("changed", 7, 5);
  changed.ctime_ns += 1;
  for (Node* n : {&bigger, &touched, &changed}) {
    EXPECT_EQ(table.Follow(*n, nullptr, 0), Decision::kReadAlone) << n->name;
    EXPECT_EQ(n->content, FileContent{});  // the caller reads it: the node is left to it
  }
  EXPECT_EQ(bigger.name, "bigger");
  // The first link still serves equal links.
  Node equal = Link("equal", 7, 5);
  EXPECT_EQ(table.Follow(equal, nullptr, 0), Decision::kWaits);
}

TEST(HardlinkTableTest, LeftFirstLinkMakesTheNextLinkRead) {
  HardlinkTable table;
  Node a = Link("a", 7, 3);
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  table.Leave(KeyOf(a));  // a was unreadable, or changed while read
  Node b = Link("b", 7, 3);
  EXPECT_EQ(table.Follow(b, nullptr, 0), Decision::kReadFirst);  // read in a's place
  EXPECT_TRUE(table.Share(Completed(b, 4)).empty());
  Node c = Link("c", 7, 3);
  EXPECT_EQ(table.Follow(c, nullptr, 0), Decision::kTaken);
  EXPECT_EQ(c.content, SomeContent(4));
  EXPECT_EQ(table.size(), 0u);
}

TEST(HardlinkTableTest, LeavingTheLastLinkForgetsTheInode) {
  HardlinkTable table;
  Node a = Link("a", 7, 2);
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  Node b = Link("b", 7, 2);
  b.mtime_ns += 1;
  EXPECT_EQ(table.Follow(b, nullptr, 0), Decision::kReadAlone);
  EXPECT_EQ(table.size(), 1u);  // a is still being read
  table.Leave(KeyOf(a));
  EXPECT_EQ(table.size(), 0u);
}

TEST(HardlinkTableTest, LinkReusedFromTheParentServesLaterLinks) {
  HardlinkTable table;
  table.NoteReused(Completed(Link("a", 7, 3), 5));
  Node b = Link("b", 7, 3);
  EXPECT_EQ(table.Follow(b, nullptr, 0), Decision::kTaken);
  EXPECT_EQ(b.content, SomeContent(5));
  table.NoteReused(Completed(Link("c", 7, 3), 5));  // the last link: forgotten
  EXPECT_EQ(table.size(), 0u);
}

TEST(HardlinkTableTest, ReusedLinkDoesNotReplaceAFirstLinkBeingRead) {
  HardlinkTable table;
  Node a = Link("a", 7, 3);
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  table.NoteReused(Completed(Link("b", 7, 3), 6));
  Node c = Link("c", 7, 3);
  EXPECT_EQ(table.Follow(c, nullptr, 0), Decision::kWaits);  // on a, not b's content
  std::vector<LinkFollower> followers = table.Share(Completed(a, 7));
  ASSERT_EQ(followers.size(), 1u);
  EXPECT_EQ(followers[0].node.content, SomeContent(7));
  EXPECT_EQ(table.size(), 0u);
}

TEST(HardlinkTableTest, InodesAreKeyedByDeviceAndInode) {
  HardlinkTable table;
  Node a = Link("a", 7, 2);
  Node other_inode = Link("b", 8, 2);
  Node other_device = Link("c", 7, 2);
  other_device.device = 2;
  EXPECT_EQ(table.Follow(a, nullptr, 0), Decision::kReadFirst);
  EXPECT_EQ(table.Follow(other_inode, nullptr, 0), Decision::kReadFirst);
  EXPECT_EQ(table.Follow(other_device, nullptr, 0), Decision::kReadFirst);
  EXPECT_EQ(table.size(), 3u);
}

}  // namespace
}  // namespace repo
