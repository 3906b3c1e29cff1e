// Nodes, tree blobs and snapshot records (repo/model/tree.h, tree_blob.h, snapshot.h): round
// trips, canonical encodings, refusal of malformed input; listings and content lists stored as
// B-trees of blobs (tree_io.h): streamed back, searched by name and offset, deduplicated after
// an edit; format 1 listings still read.
#include "repo/model/tree.h"

#include <gtest/gtest.h>

#include <random>

#include "repo/model/snapshot.h"
#include "repo/model/tree_blob.h"
#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

Id IdOf(uint64_t v) {
  Id id;
  for (int i = 0; i < 8; ++i) id.data()[i] = static_cast<uint8_t>(v >> (8 * i));
  id.data()[31] = 0x5a;
  return id;
}

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
  n.content.runs = {{IdOf(size + 1), size / 2, false}, {Id(), size - size / 2, true}};
  n.xattrs = {{"system.posix_acl_access", std::string("\x02\0\0\0", 4)}, {"user.x", "y"}};
  return n;
}

std::vector<Node> SampleListing() {
  Node dir;
  dir.type = NodeType::kDir;
  dir.name = "dir";
  dir.mode = 01777;
  dir.subtree = {IdOf(77)};
  Node big = FileNode("file", 1000);
  big.content.runs.clear();
  big.content.list = IdOf(78);
  Node link;
  link.type = NodeType::kSymlink;
  link.name = "link";
  link.link_target = "../../elsewhere";
  Node odd = FileNode(std::string("new\nline \xff\xfe"), 10);
  return {dir, big, link, odd};  // sorted bytewise
}

TreeBlob Leaf(std::vector<Node> nodes) {
  TreeBlob b;
  b.nodes = std::move(nodes);
  return b;
}

// A content leaf, a listing inner blob and a content inner blob.
std::vector<TreeBlob> OtherBlobs() {
  TreeBlob runs;
  runs.kind = TreeBlobKind::kContent;
  runs.runs = {{IdOf(1), 4096, false}, {Id(), 1 << 20, true}, {IdOf(2), 70000, false}};
  TreeBlob names;
  names.level = 1;
  names.children = {{IdOf(3), 0, "a"}, {IdOf(4), 0, "m\xff"}, {IdOf(5), 0, "zz"}};
  TreeBlob offsets;
  offsets.kind = TreeBlobKind::kContent;
  offsets.level = 2;
  offsets.children = {{IdOf(6), 1000, ""}, {IdOf(7), 5000000000, ""}};
  return {runs, names, offsets};
}

TEST(TreeBlobTest, EveryKindRoundTripsExactlyAndCanonically) {
  std::vector<TreeBlob> blobs = OtherBlobs();
  blobs.push_back(Leaf(SampleListing()));
  blobs.push_back(Leaf({}));
  for (const TreeBlob& blob : blobs) {
    auto bytes = EncodeTreeBlob(blob);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto back = DecodeTreeBlob(*bytes, blob.kind, "t");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, blob);
    EXPECT_EQ(*EncodeTreeBlob(*back), *bytes);
    const TreeBlobKind other =
        blob.kind == TreeBlobKind::kListing ? TreeBlobKind::kContent : TreeBlobKind::kListing;
    EXPECT_EQ(DecodeTreeBlob(*bytes, other, "t").status().code(), StatusCode::kCorruption)
        << "a blob of one kind is never read as the other";
  }
  EXPECT_EQ(OtherBlobs()[2].extent(), 5000000000u);
  EXPECT_EQ(OtherBlobs()[0].extent(), 4096u + (1 << 20) + 70000);
}

TEST(TreeBlobTest, EncoderRefusesWhatTheDecoderWould) {
  auto nodes = SampleListing();
  std::swap(nodes[0], nodes[1]);
  EXPECT_EQ(EncodeTreeBlob(Leaf(nodes)).status().code(), StatusCode::kInvalidArgument);
  for (const char* bad : {"", ".", "..", "a/b"}) {
    EXPECT_FALSE(EncodeTreeBlob(Leaf({FileNode(bad, 1)})).ok()) << bad;
  }
  EXPECT_FALSE(EncodeTreeBlob(Leaf({FileNode("a", 1), FileNode("a", 2)})).ok());
  EXPECT_FALSE(EncodeTreeBlob(Leaf({FileNode(std::string("a\0b", 3), 1)})).ok());
  Node both = FileNode("both", 10);
  both.content.list = IdOf(1);
  EXPECT_FALSE(EncodeTreeBlob(Leaf({both})).ok()) << "content inline and listed";
  Node many = FileNode("many", 10);
  many.content.runs.resize(kMaxInlineRuns + 1, ContentRun{IdOf(1), 1, false});
  EXPECT_FALSE(EncodeTreeBlob(Leaf({many})).ok()) << "more inline runs than a record holds";
  Node dir;
  dir.type = NodeType::kDir;
  dir.name = "d";
  dir.subtree = {IdOf(1), IdOf(2)};
  EXPECT_FALSE(EncodeTreeBlob(Leaf({dir})).ok()) << "a version 2 listing has one root";
  Node huge = FileNode("huge", 1);
  huge.xattrs = {{"user.big", std::string(kMaxNodeRecord, 'x')}};
  auto refused = EncodeTreeBlob(Leaf({huge}));
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("huge"), std::string::npos) << "names the file";
  TreeBlob zero;
  zero.kind = TreeBlobKind::kContent;
  zero.runs = {{IdOf(1), 0, false}};
  EXPECT_FALSE(EncodeTreeBlob(zero).ok()) << "runs are at least one byte";
  TreeBlob unsorted = OtherBlobs()[1];
  std::swap(unsorted.children[0], unsorted.children[1]);
  EXPECT_FALSE(EncodeTreeBlob(unsorted).ok());
  TreeBlob empty_inner = OtherBlobs()[2];
  empty_inner.children.clear();
  EXPECT_FALSE(EncodeTreeBlob(empty_inner).ok());
}

TEST(TreeBlobTest, EveryTruncationAndExtensionFails) {
  std::vector<TreeBlob> blobs = OtherBlobs();
  blobs.push_back(Leaf(SampleListing()));
  for (const TreeBlob& blob : blobs) {
    Bytes bytes = *EncodeTreeBlob(blob);
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_EQ(DecodeTreeBlob(ByteSpan(bytes).first(n), blob.kind, "t").status().code(),
                StatusCode::kCorruption)
          << n;
    }
    Bytes longer = bytes;
    longer.push_back(0);
    EXPECT_EQ(DecodeTreeBlob(longer, blob.kind, "t").status().code(), StatusCode::kCorruption);
  }
}

TEST(TreeBlobTest, FlipsNeverCrashAndWhatDecodesIsCanonical) {
  // Tree blobs are authenticated by their blob's AEAD, so a flip inside one can only come from a
  // bug; the decoder must still never crash or over-allocate, whatever it is given.
  std::vector<TreeBlob> blobs = OtherBlobs();
  blobs.push_back(Leaf(SampleListing()));
  for (const TreeBlob& blob : blobs) {
    const Bytes bytes = *EncodeTreeBlob(blob);
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
      for (uint8_t mask : {0x01, 0x80, 0xff}) {
        Bytes damaged = bytes;
        damaged[pos] ^= mask;
        auto r = DecodeTreeBlob(damaged, blob.kind, "t");
        if (r.ok()) {
          EXPECT_EQ(*EncodeTreeBlob(*r), damaged);
        }
      }
    }
    Bytes newer = bytes;
    newer[0] = kTreeVersion + 1;
    EXPECT_EQ(DecodeTreeBlob(newer, blob.kind, "t").status().code(),
              StatusCode::kUnsupportedVersion);
    Bytes huge_count = bytes;
    huge_count[3] = huge_count[4] = huge_count[5] = huge_count[6] = 0xff;
    EXPECT_EQ(DecodeTreeBlob(huge_count, blob.kind, "t").status().code(), StatusCode::kCorruption);
    Bytes too_deep = bytes;
    too_deep[2] = kMaxTreeLevels;
    EXPECT_EQ(DecodeTreeBlob(too_deep, blob.kind, "t").status().code(), StatusCode::kCorruption);
  }
}

TEST(TreeV1Test, Version1ListingsStillDecode) {
  auto nodes = SampleListing();
  nodes[0].subtree = {IdOf(1), IdOf(2)};  // format 1: a listing's pieces
  nodes[1].content.list.reset();
  nodes[1].content.runs = {{IdOf(3), 1000, false}};
  auto bytes = EncodeTreeV1(nodes);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeTreeV1(*bytes, "t");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, nodes);
  for (size_t n = 0; n < bytes->size(); ++n) {
    EXPECT_FALSE(DecodeTreeV1(ByteSpan(*bytes).first(n), "t").ok()) << n;
  }
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

class TreeStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = test::InitSmallRepo(storage_, dir_.Sub("cache"), "pw");
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
    store_ = *repo_->blobs();
  }

  // Names, sizes and times vary as in a real directory.
  static std::vector<Node> BigListing(int n) {
    std::mt19937_64 rng(11);
    std::vector<Node> nodes;
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "file-%06d-", i);
      std::string full = name;
      for (size_t k = rng() % 12; k > 0; --k) full += static_cast<char>('a' + rng() % 26);
      nodes.push_back(FileNode(full, i == 123 ? 123 : rng() % 1000000));
      nodes.back().mtime_ns += static_cast<int64_t>(rng() % 1000000000000);
    }
    return nodes;
  }

  // Runs of a file: data runs with distinct ids, a hole now and then.
  static std::vector<ContentRun> Runs(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<ContentRun> runs;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 50 == 0) {
        runs.push_back({Id(), 1 + rng() % 100000, true});
      } else {
        runs.push_back({IdOf(rng()), 1 + rng() % 65536, false});
      }
    }
    return runs;
  }

  Result<Node> StoreFile(const std::vector<ContentRun>& runs, uint64_t* blobs_added = nullptr) {
    Node file = FileNode("f", 0);
    file.size = 0;
    for (const ContentRun& r : runs) file.size += r.length;
    ContentWriter writer(*store_);
    for (const ContentRun& r : runs) RETURN_IF_ERROR(writer.Add(r));
    RETURN_IF_ERROR(writer.Finish(&file));
    if (blobs_added) *blobs_added = writer.blobs_added();
    return file;
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
};

TEST_F(TreeStorageTest, LargeListingIsABTreeReadAsAStreamAndSearched) {
  std::vector<Node> nodes = BigListing(20000);
  auto stored = StoreTree(*store_, nodes);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_EQ(stored->blobs.size(), 1u) << "one root blob";
  EXPECT_GT(stored->blobs_added, 20u) << "a listing of 20000 entries spans many blobs";
  auto back = LoadTree(*store_, stored->blobs, "big");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, nodes);

  // Seek to every 997th name, and between names.
  ListingReader reader(*store_, stored->blobs, "big");
  for (size_t i = 0; i < nodes.size(); i += 997) {
    ASSERT_TRUE(reader.Seek(nodes[i].name).ok());
    Node n;
    ASSERT_TRUE(*reader.Next(&n));
    EXPECT_EQ(n.name, nodes[i].name);
    ASSERT_TRUE(reader.Seek(nodes[i].name + "\x01").ok());
    if (i + 1 < nodes.size()) {
      ASSERT_TRUE(*reader.Next(&n));
      EXPECT_EQ(n.name, nodes[i + 1].name);
    }
  }
  ASSERT_TRUE(reader.Seek("\xff").ok());
  Node past;
  EXPECT_FALSE(*reader.Next(&past));
  auto node = FindNode(*store_, stored->blobs, "/" + nodes[123].name);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->size, 123u);
  EXPECT_EQ(FindNode(*store_, stored->blobs, "/nope").status().code(), StatusCode::kNotFound);

  // One more file in the middle, and one changed file: only the blobs on their paths are new.
  nodes.insert(nodes.begin() + 10001, FileNode("file-010000-~new", 5));
  nodes[500].mtime_ns += 1;
  auto again = StoreTree(*store_, nodes);
  ASSERT_TRUE(again.ok());
  EXPECT_LE(again->blobs_added, 8u) << "of " << stored->blobs_added;
  EXPECT_EQ(*LoadTree(*store_, again->blobs, "again"), nodes);
}

TEST_F(TreeStorageTest, EmptyAndSmallListings) {
  auto empty = StoreTree(*store_, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(LoadTree(*store_, empty->blobs, "empty")->empty());
  auto small = StoreTree(*store_, SampleListing());
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->blobs_added, 1u);
  EXPECT_EQ(*LoadTree(*store_, small->blobs, "small"), SampleListing());
}

TEST_F(TreeStorageTest, Format1ListingPiecesStillLoad) {
  std::vector<Node> nodes = BigListing(300);
  for (Node& n : nodes) n.content.runs.resize(1);
  Bytes whole = *EncodeTreeV1(nodes);
  const size_t cut = whole.size() / 3;
  auto a = store_->Put(BlobType::kTree, ByteSpan(whole).first(cut));
  auto b = store_->Put(BlobType::kTree, ByteSpan(whole).subspan(cut));
  ASSERT_TRUE(a.ok() && b.ok());
  auto back = LoadTree(*store_, {a->id, b->id}, "v1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, nodes);
  auto found = FindNode(*store_, {a->id, b->id}, "/" + nodes[250].name);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->name, nodes[250].name);
}

TEST_F(TreeStorageTest, FewRunsStayInlineManyGoToAContentList) {
  std::vector<ContentRun> few = Runs(kMaxInlineRuns, 1);
  auto small = StoreFile(few);
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(small->content.list);
  EXPECT_EQ(small->content.runs, few);
  auto big = StoreFile(Runs(kMaxInlineRuns + 1, 1));
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(big->content.list);
  EXPECT_TRUE(big->content.runs.empty());
  EXPECT_EQ(*LoadContent(*store_, *big, "big"), Runs(kMaxInlineRuns + 1, 1));
  ContentWriter writer(*store_);
  EXPECT_EQ(writer.Add({IdOf(1), 0, false}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(writer.Add({IdOf(1), uint64_t{1} << 32, false}).code(), StatusCode::kInvalidArgument);
}

TEST_F(TreeStorageTest, ContentListStreamsSeeksAndDeduplicatesAppends) {
  const std::vector<ContentRun> runs = Runs(200000, 7);
  uint64_t first_blobs = 0;
  auto file = StoreFile(runs, &first_blobs);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_GT(first_blobs, 100u);
  EXPECT_EQ(*LoadContent(*store_, *file, "f"), runs);

  // Seek: every offset lands in the run holding it, with that run's start.
  std::vector<uint64_t> starts;
  uint64_t total = 0;
  for (const ContentRun& r : runs) {
    starts.push_back(total);
    total += r.length;
  }
  ContentReader reader(*store_, *file, "f");
  std::mt19937_64 rng(3);
  for (int k = 0; k < 300; ++k) {
    const uint64_t offset = k == 0 ? 0 : k == 1 ? total - 1 : rng() % total;
    ASSERT_TRUE(reader.Seek(offset).ok());
    const size_t i = std::upper_bound(starts.begin(), starts.end(), offset) - starts.begin() - 1;
    EXPECT_EQ(reader.offset(), starts[i]) << offset;
    ContentRun r;
    ASSERT_TRUE(*reader.Next(&r));
    EXPECT_EQ(r, runs[i]) << offset;
  }
  ASSERT_TRUE(reader.Seek(total).ok());
  ContentRun none;
  EXPECT_FALSE(*reader.Next(&none));

  // Appending to the file keeps all but the last blob of each level.
  std::vector<ContentRun> appended = runs;
  for (const ContentRun& r : Runs(100, 8)) appended.push_back(r);
  uint64_t added = 0;
  auto longer = StoreFile(appended, &added);
  ASSERT_TRUE(longer.ok());
  EXPECT_LE(added, 6u) << "of " << first_blobs;
  EXPECT_EQ(*LoadContent(*store_, *longer, "f"), appended);

  // A run inserted at the front moves no later boundary: only the blobs on its path are new.
  std::vector<ContentRun> inserted = runs;
  inserted.insert(inserted.begin(), ContentRun{IdOf(999), 10, false});
  auto moved = StoreFile(inserted, &added);
  ASSERT_TRUE(moved.ok());
  EXPECT_LE(added, 6u) << "of " << first_blobs;
}

TEST_F(TreeStorageTest, AContentListThatDoesNotAddUpIsCorruption) {
  auto file = StoreFile(Runs(5000, 9));
  ASSERT_TRUE(file.ok());
  Node lying = *file;
  lying.size += 1;
  auto r = LoadContent(*store_, lying, "lying");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("lying"), std::string::npos);
  Node wrong_kind = *file;
  wrong_kind.content.list = *StoreTree(*store_, SampleListing())->blobs.begin();
  EXPECT_EQ(LoadContent(*store_, wrong_kind, "w").status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace repo
