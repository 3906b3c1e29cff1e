// Tree listings and snapshot records (repo/model/tree.h, repo/model/snapshot.h): round trips,
// canonical encodings, refusal of malformed input, and tree storage (split of large listings).
#include "repo/model/tree.h"

#include <gtest/gtest.h>

#include <random>

#include "repo/model/snapshot.h"
#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

Node FileNode(const std::string& name, uint64_t size) {
  Node n;
  n.type = NodeType::kFile;
  n.name = name;
  n.mode = 0640;
  n.uid = 1000;
  n.gid = 100;
  n.user = "alice";
  n.group = "users";
  n.mtime_ns = 1700000000123456789;
  n.ctime_ns = 1700000000987654321;
  n.size = size;
  n.inode = 42;
  n.device = 7;
  n.nlink = 1;
  Id id;
  id.data()[0] = static_cast<uint8_t>(size);
  n.content = {{id, size / 2, false}, {Id(), size - size / 2, true}};
  n.xattrs = {{"system.posix_acl_access", std::string("\x02\0\0\0", 4)}, {"user.x", "y"}};
  return n;
}

std::vector<Node> SampleListing() {
  Node dir;
  dir.type = NodeType::kDir;
  dir.name = "dir";
  dir.mode = 01777;
  dir.subtree = {Id(), Id()};
  Node link;
  link.type = NodeType::kSymlink;
  link.name = "link";
  link.link_target = "../../elsewhere";
  Node odd = FileNode(std::string("new\nline \xff\xfe"), 10);
  return {dir, FileNode("file", 1000), link, odd};  // sorted bytewise
}

TEST(TreeTest, RoundTripIsExactAndCanonical) {
  auto nodes = SampleListing();
  auto bytes = EncodeTree(nodes);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeTree(*bytes, "t");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, nodes);
  EXPECT_EQ(*EncodeTree(*back), *bytes);
}

TEST(TreeTest, EncoderRefusesUnsortedDuplicateOrBadNames) {
  auto nodes = SampleListing();
  std::swap(nodes[0], nodes[1]);
  EXPECT_EQ(EncodeTree(nodes).status().code(), StatusCode::kInvalidArgument);
  for (const char* bad : {"", ".", "..", "a/b"}) {
    EXPECT_FALSE(EncodeTree({FileNode(bad, 1)}).ok()) << bad;
  }
  EXPECT_FALSE(EncodeTree({FileNode("a", 1), FileNode("a", 2)}).ok());
  EXPECT_FALSE(EncodeTree({FileNode(std::string("a\0b", 3), 1)}).ok());
}

TEST(TreeTest, EveryTruncationFails) {
  Bytes bytes = *EncodeTree(SampleListing());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeTree(ByteSpan(bytes).first(n), "t").ok()) << n;
  }
  Bytes longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(DecodeTree(longer, "t").status().code(), StatusCode::kCorruption);
}

TEST(TreeTest, FlipsNeverCrashAndStructuralDamageIsCorruption) {
  // Listings are authenticated by their blob's AEAD, so a flip inside one can only come from a
  // bug; the decoder must still never crash or over-allocate, whatever it is given.
  Bytes bytes = *EncodeTree(SampleListing());
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      Bytes damaged = bytes;
      damaged[pos] ^= mask;
      auto r = DecodeTree(damaged, "t");
      if (r.ok()) {
        EXPECT_EQ(*EncodeTree(*r), damaged);  // canonical even when it decodes
      }
    }
  }
  Bytes newer = bytes;
  newer[0] = kTreeVersion + 1;
  EXPECT_EQ(DecodeTree(newer, "t").status().code(), StatusCode::kUnsupportedVersion);
  Bytes huge_count = bytes;
  huge_count[1] = huge_count[2] = huge_count[3] = huge_count[4] = 0xff;
  EXPECT_EQ(DecodeTree(huge_count, "t").status().code(), StatusCode::kCorruption);
}

TEST(SnapshotRecordTest, RoundTripAndTruncation) {
  Snapshot s;
  s.time_ns = 1700000000000000001;
  s.hostname = "db1";
  s.username = "postgres";
  s.paths = {"app.dump"};
  s.tags = {"a", "b"};
  s.tree = {Id(), Id()};
  s.parent = Id();
  s.program_version = "0.1.0";
  s.summary.files_new = 1;
  s.summary.bytes_added = 12345;
  s.summary.duration_ns = 99;
  Bytes payload = EncodeSnapshotPayload(s);
  auto back = DecodeSnapshotPayload(payload, "s");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(DecodeSnapshotPayload(ByteSpan(payload).first(n), "s").ok()) << n;
  }
  payload[0] = kSnapshotVersion + 1;
  EXPECT_EQ(DecodeSnapshotPayload(payload, "s").status().code(), StatusCode::kUnsupportedVersion);
}

TEST(SnapshotRecordTest, FindByLatestPrefixAndFilters) {
  auto make = [](int64_t t, std::string host, std::vector<std::string> tags, uint8_t id0) {
    SnapshotRef r;
    r.id.data()[0] = id0;
    r.snapshot.time_ns = t;
    r.snapshot.hostname = std::move(host);
    r.snapshot.tags = std::move(tags);
    r.snapshot.paths = {"/etc"};
    return r;
  };
  std::vector<SnapshotRef> all = {make(1, "a", {"nightly"}, 0xab), make(2, "b", {}, 0xac),
                                  make(3, "a", {"weekly", "nightly"}, 0xcd)};
  EXPECT_EQ(FindSnapshot(all, "latest", {})->id, all[2].id);
  SnapshotFilter host_b;
  host_b.hosts = {"b"};
  EXPECT_EQ(FindSnapshot(all, "latest", host_b)->id, all[1].id);
  SnapshotFilter both;
  both.tags = {"weekly,nightly"};
  EXPECT_EQ(FindSnapshot(all, "latest", both)->id, all[2].id);
  SnapshotFilter none;
  none.tags = {"monthly"};
  EXPECT_EQ(FindSnapshot(all, "latest", none).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FindSnapshot(all, "cd00", {})->id, all[2].id);
  EXPECT_EQ(FindSnapshot(all, "ab00", {})->id, all[0].id);
  EXPECT_EQ(FindSnapshot(all, "ff00", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FindSnapshot(all, "ab", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FindSnapshot(all, "LATEST", {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(TreeStorageTest, LargeListingIsSplitAndLoadsBack) {
  test::TempDir dir;
  MemoryBackend storage;
  auto repo = test::InitSmallRepo(storage, dir.Sub("cache"), "pw");
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  BlobStore* store = *(*repo)->blobs();
  // Names, sizes and times vary as in a real directory. (Entries that differ only in a counter
  // make the listing nearly periodic, and under some of the random chunker seeds a periodic
  // listing is cut at every minimum size, so that one insertion moves every later cut.)
  std::mt19937_64 rng(11);
  std::vector<Node> nodes;
  for (int i = 0; i < 20000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "file-%06d-", i);
    std::string full = name;
    for (size_t k = rng() % 12; k > 0; --k) full += static_cast<char>('a' + rng() % 26);
    nodes.push_back(FileNode(full, i == 123 ? 123 : rng() % 1000000));
    nodes.back().mtime_ns += static_cast<int64_t>(rng() % 1000000000000);
  }
  auto stored = StoreTree(*store, (*repo)->config().chunker, (*repo)->gear_table(), nodes);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_GT(stored->blobs.size(), 1u) << "a listing over 1 MiB is cut into several blobs";
  auto back = LoadTree(*store, stored->blobs, "big");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, nodes);

  // One more file in the middle rewrites only a small part of the listing.
  nodes.insert(nodes.begin() + 10001, FileNode("file-010000-~new", 5));
  auto again = StoreTree(*store, (*repo)->config().chunker, (*repo)->gear_table(), nodes);
  ASSERT_TRUE(again.ok());
  // It added 2 blobs in 985 of 1000 runs (random chunker seeds), and at most 15 of 69 under the
  // worst seed, where the cuts took longer to resynchronise.
  EXPECT_LE(again->blobs_added * 3, stored->blobs.size());
  auto node = FindNode(*store, stored->blobs, "/" + nodes[123].name);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->size, 123u);
  EXPECT_EQ(FindNode(*store, stored->blobs, "/nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace repo
