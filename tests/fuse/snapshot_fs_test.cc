// SnapshotFs (fuse/snapshot_fs.h) without the kernel: the layout of snapshots by time, id, host
// and tag with `latest`; snapshots written or forgotten after mounting appear and disappear;
// stored nodes have the attributes they were stored with (hardlinked files one inode number,
// equal directories distinct ones); every entry of a listing of many leaves is found by lookup
// under the inode the listing gave it.
#include "fuse/snapshot_fs.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <set>

#include "repo/model/snapshot.h"
#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo::mount {
namespace {

constexpr int64_t kSecond = 1000000000;

class SnapshotFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  std::unique_ptr<SnapshotFs> Mount(std::chrono::milliseconds refresh_after = {}) {
    FsOptions o;
    o.refresh_after = refresh_after;
    auto fs = SnapshotFs::Open(*repo_, o);
    EXPECT_TRUE(fs.ok()) << fs.status().ToString();
    return fs.ok() ? std::move(fs).value() : nullptr;
  }

  std::vector<Id> Tree(std::vector<Node> nodes) {
    std::sort(nodes.begin(), nodes.end(),
              [](const Node& a, const Node& b) { return a.name < b.name; });
    auto t = StoreTree(*store_, nodes);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_TRUE(store_->Flush().ok());
    return t.ok() ? t->blobs : std::vector<Id>{};
  }

  Id Snap(int64_t time_ns, const std::string& host, std::vector<std::string> tags,
          std::vector<Id> tree = {}) {
    Snapshot s;
    s.time_ns = time_ns;
    s.hostname = host;
    s.tags = std::move(tags);
    s.paths = {"/data"};
    s.tree = tree.empty() ? Tree({}) : std::move(tree);
    auto id = WriteSnapshot(repo_->metadata(), s);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : Id();
  }

  static std::vector<std::string> Names(SnapshotFs& fs, uint64_t dir) {
    std::vector<std::string> names;
    auto stream = fs.OpenDir(dir);
    EXPECT_TRUE(stream.ok()) << stream.status().ToString();
    if (!stream.ok()) return names;
    std::string name;
    FsEntry e;
    for (;;) {
      auto more = (*stream)->Next(&name, &e);
      EXPECT_TRUE(more.ok()) << more.status().ToString();
      if (!more.ok() || !*more) break;
      names.push_back(name);
    }
    return names;
  }

  static uint64_t Walk(SnapshotFs& fs, const std::string& path) {
    uint64_t ino = kRootIno;
    size_t pos = 1;
    while (pos <= path.size()) {
      const size_t slash = std::min(path.find('/', pos), path.size());
      auto e = fs.Lookup(ino, path.substr(pos, slash - pos));
      EXPECT_TRUE(e.ok()) << path << ": " << e.status().ToString();
      if (!e.ok()) return 0;
      ino = e->ino;
      pos = slash + 1;
    }
    return ino;
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
};

TEST_F(SnapshotFsTest, SnapshotsAppearByTimeIdHostAndTagWithLatest) {
  const int64_t t = 1700000000 * kSecond;
  const Id a = Snap(t, "alpha", {"daily"});
  const Id b = Snap(t + 5, "alpha", {"daily", "db"});  // the same second
  const Id c = Snap(t + 60 * kSecond, "beta", {});
  auto fs = Mount();
  ASSERT_TRUE(fs);
  EXPECT_EQ(Names(*fs, kRootIno), (std::vector<std::string>{"hosts", "ids", "snapshots", "tags"}));
  const std::string t0 = TimeName(t), t1 = TimeName(t + 60 * kSecond);
  EXPECT_EQ(Names(*fs, Walk(*fs, "/snapshots")),
            (std::vector<std::string>{t0, t0 + "-1", t1, "latest"}));
  auto ids = Names(*fs, Walk(*fs, "/ids"));
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> want = {a.ShortHex(), b.ShortHex(), c.ShortHex()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
  EXPECT_EQ(Names(*fs, Walk(*fs, "/hosts")), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(Names(*fs, Walk(*fs, "/hosts/alpha")),
            (std::vector<std::string>{t0, t0 + "-1", "latest"}));
  EXPECT_EQ(Names(*fs, Walk(*fs, "/tags")), (std::vector<std::string>{"daily", "db"}));
  EXPECT_EQ(Names(*fs, Walk(*fs, "/tags/db")), (std::vector<std::string>{t0, "latest"}));

  auto latest = fs->ReadLink(Walk(*fs, "/snapshots/latest"));
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, t1);
  latest = fs->ReadLink(Walk(*fs, "/hosts/alpha/latest"));
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, t0 + "-1");
  auto attr = fs->GetAttr(Walk(*fs, "/snapshots/latest"));
  ASSERT_TRUE(attr.ok());
  EXPECT_TRUE(S_ISLNK(attr->attr.st_mode));
  EXPECT_EQ(attr->attr.st_size, static_cast<off_t>(t1.size()));

  // One snapshot in two places: two directories.
  EXPECT_NE(Walk(*fs, "/ids/" + c.ShortHex()), Walk(*fs, "/snapshots/" + t1));
  attr = fs->GetAttr(Walk(*fs, "/snapshots/" + t1));
  ASSERT_TRUE(attr.ok());
  EXPECT_TRUE(S_ISDIR(attr->attr.st_mode));
  EXPECT_EQ(attr->attr.st_mtim.tv_sec, t / kSecond + 60);
  EXPECT_TRUE(fs->Lookup(kRootIno, "nothing").status().IsNotFound());
  EXPECT_TRUE(fs->Lookup(Walk(*fs, "/snapshots"), "1999-01-01T00:00:00Z").status().IsNotFound());
}

TEST_F(SnapshotFsTest, SnapshotsWrittenOrForgottenAfterMountingComeAndGo) {
  const int64_t t = 1700000000 * kSecond;
  const Id first = Snap(t, "h", {});
  auto fs = Mount();  // refresh_after 0: every listing reads the list again
  ASSERT_TRUE(fs);
  const uint64_t snapshots = Walk(*fs, "/snapshots");
  const uint64_t old = Walk(*fs, "/snapshots/" + TimeName(t));
  EXPECT_EQ(Names(*fs, snapshots).size(), 2u);
  Snap(t + kSecond, "h", {"new"});
  EXPECT_EQ(Names(*fs, snapshots),
            (std::vector<std::string>{TimeName(t), TimeName(t + kSecond), "latest"}));
  EXPECT_EQ(*fs->ReadLink(Walk(*fs, "/snapshots/latest")), TimeName(t + kSecond));
  EXPECT_EQ(Names(*fs, Walk(*fs, "/tags")), std::vector<std::string>{"new"});
  ASSERT_TRUE(storage_.Delete({FileType::kSnapshot, first.Hex()}).ok());  // forgotten
  EXPECT_EQ(Names(*fs, snapshots), (std::vector<std::string>{TimeName(t + kSecond), "latest"}));
  EXPECT_TRUE(fs->Lookup(snapshots, TimeName(t)).status().IsNotFound());
  EXPECT_TRUE(fs->GetAttr(old).ok()) << "an inode the kernel holds stays valid";
}

TEST_F(SnapshotFsTest, StoredNodesHaveTheirStoredAttributes) {
  auto put = store_->Put(BlobType::kData, AsBytes("hello, world\n"));
  ASSERT_TRUE(put.ok());
  auto node = [](std::string name, NodeType type, uint32_t mode) {
    Node n;
    n.name = std::move(name);
    n.type = type;
    n.mode = mode;
    n.uid = 1234;
    n.gid = 5678;
    n.mtime_ns = 1600000000 * kSecond + 123456789;
    n.ctime_ns = 1600000001 * kSecond;
    n.nlink = 1;
    return n;
  };
  Node file = node("file", NodeType::kFile, 04755);
  file.size = 13;
  file.content.runs = {ContentRun{put->id, 13, false}};
  file.xattrs = {{"user.a", std::string("\0bin", 4)}, {"user.b", ""}};
  Node sparse = node("sparse", NodeType::kFile, 0600);
  sparse.size = 1 << 20;
  sparse.content.runs = {ContentRun{Id(), 1 << 20, true}};
  Node link1 = node("link1", NodeType::kFile, 0644), link2 = link1;
  link2.name = "link2";
  for (Node* l : {&link1, &link2}) {
    l->nlink = 2;
    l->inode = 77;
    l->device = 5;
    l->size = 13;
    l->content = file.content;
  }
  Node symlink = node("symlink", NodeType::kSymlink, 0777);
  symlink.link_target = "../somewhere";
  Node fifo = node("fifo", NodeType::kFifo, 0640);
  Node dev = node("dev", NodeType::kCharDevice, 0660);
  dev.rdev = makedev(1, 3);
  Node empty1 = node("empty1", NodeType::kDir, 0700), empty2 = empty1;
  empty2.name = "empty2";
  empty1.subtree = empty2.subtree = Tree({});
  Node sub = node("sub", NodeType::kDir, 0755);
  sub.subtree = Tree({file});
  const int64_t t = 1700000000 * kSecond;
  Snap(t, "h", {}, Tree({file, sparse, link1, link2, symlink, fifo, dev, empty1, empty2, sub}));
  auto fs = Mount();
  ASSERT_TRUE(fs);
  const std::string root = "/snapshots/" + TimeName(t);
  EXPECT_EQ(Names(*fs, Walk(*fs, root)),
            (std::vector<std::string>{"dev", "empty1", "empty2", "fifo", "file", "link1", "link2",
                                      "sparse", "sub", "symlink"}));

  auto f = fs->GetAttr(Walk(*fs, root + "/file"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->attr.st_mode, S_IFREG | 04755);
  EXPECT_EQ(f->attr.st_uid, 1234u);
  EXPECT_EQ(f->attr.st_gid, 5678u);
  EXPECT_EQ(f->attr.st_size, 13);
  EXPECT_EQ(f->attr.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(f->attr.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(f->attr.st_nlink, 1u);
  EXPECT_TRUE(f->stored);
  auto x = fs->Xattrs(f->ino);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(*x, file.xattrs);
  auto opened = fs->OpenFile(f->ino);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  FileRead read;
  ASSERT_TRUE((*opened)->Read(0, 100, &read).ok());
  EXPECT_EQ(read.Join(), Bytes(AsBytes("hello, world\n").begin(), AsBytes("hello, world\n").end()));

  auto s = fs->GetAttr(Walk(*fs, root + "/sparse"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->attr.st_size, 1 << 20);
  EXPECT_EQ(s->attr.st_blocks, 0) << "holes take no blocks";

  auto l1 = fs->GetAttr(Walk(*fs, root + "/link1")), l2 = fs->GetAttr(Walk(*fs, root + "/link2"));
  ASSERT_TRUE(l1.ok() && l2.ok());
  EXPECT_EQ(l1->attr.st_nlink, 2u);
  EXPECT_EQ(l1->attr.st_ino, l2->attr.st_ino) << "hardlinks share an inode number";
  EXPECT_NE(l1->ino, l2->ino) << "but are two nodes for the kernel";
  EXPECT_NE(l1->attr.st_ino, f->attr.st_ino);

  auto sl = fs->GetAttr(Walk(*fs, root + "/symlink"));
  ASSERT_TRUE(sl.ok());
  EXPECT_TRUE(S_ISLNK(sl->attr.st_mode));
  EXPECT_EQ(*fs->ReadLink(sl->ino), "../somewhere");
  EXPECT_EQ(fs->GetAttr(Walk(*fs, root + "/fifo"))->attr.st_mode, S_IFIFO | 0640);
  auto d = fs->GetAttr(Walk(*fs, root + "/dev"));
  EXPECT_EQ(d->attr.st_mode, S_IFCHR | 0660);
  EXPECT_EQ(d->attr.st_rdev, makedev(1, 3));

  EXPECT_NE(Walk(*fs, root + "/empty1"), Walk(*fs, root + "/empty2"))
      << "equal listings in two places are two directories";
  EXPECT_TRUE(Names(*fs, Walk(*fs, root + "/empty1")).empty());
  EXPECT_EQ(Names(*fs, Walk(*fs, root + "/sub")), std::vector<std::string>{"file"});
  EXPECT_EQ(fs->PathOf(Walk(*fs, root + "/sub/file")), root + "/sub/file");

  EXPECT_EQ(fs->OpenFile(Walk(*fs, root + "/sub")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fs->OpenDir(f->ino).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fs->ReadLink(f->ino).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs->Lookup(Walk(*fs, root), "missing").status().IsNotFound());
}

TEST_F(SnapshotFsTest, EveryEntryOfAListingOfManyLeavesIsFoundUnderItsInode) {
  std::vector<Node> nodes;
  for (int i = 0; i < 5000; ++i) {
    Node n;
    n.name = "entry" + std::to_string(i);
    n.type = NodeType::kFifo;
    n.mode = 0600;
    n.size = 0;
    n.uid = static_cast<uint32_t>(i);
    nodes.push_back(n);
  }
  const int64_t t = 1700000000 * kSecond;
  Snap(t, "h", {}, Tree(nodes));
  auto fs = Mount();
  ASSERT_TRUE(fs);
  const uint64_t dir = Walk(*fs, "/snapshots/" + TimeName(t));
  auto stream = fs->OpenDir(dir);
  ASSERT_TRUE(stream.ok());
  std::map<std::string, FsEntry> listed;
  std::string name;
  FsEntry e;
  for (;;) {
    auto more = (*stream)->Next(&name, &e);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    listed[name] = e;
  }
  ASSERT_EQ(listed.size(), 5000u);
  std::set<uint64_t> slots;
  for (const auto& [n, entry] : listed) {
    auto found = fs->Lookup(dir, n);
    ASSERT_TRUE(found.ok()) << n;
    EXPECT_EQ(found->ino, entry.ino) << n;
    auto attr = fs->GetAttr(entry.ino);
    ASSERT_TRUE(attr.ok()) << n;
    EXPECT_EQ(attr->attr.st_uid, static_cast<uid_t>(std::stoi(n.substr(5)))) << n;
    slots.insert(entry.ino >> TreeInodes::kIndexBits);
  }
  EXPECT_GT(slots.size(), 5u) << "the listing spans several leaves";
}

}  // namespace
}  // namespace repo::mount
