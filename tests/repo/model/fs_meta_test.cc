// File metadata between the filesystem and Nodes (repo/model/fs_meta.h): what NodeFromStat
// records for each kind of entry, and ApplyMetadata putting it back (by name and by fd), which is
// what a restore relies on.
#include "repo/model/fs_meta.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "repo/os/identity.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using Xattrs = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kMtimeNs = 1600000000123456789;  // nanoseconds kept

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

void SetMtime(const std::string& path, int64_t ns) {
  timespec times[2];
  times[0] = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  times[1] = times[0];
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

Node FromPath(const std::string& path, const std::string& name) {
  auto node = NodeFromStat(AtPath{AT_FDCWD, path.c_str()}, path, name, Lstat(path));
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? *node : Node{};
}

// Sets user xattr `name` on `path`; false if the filesystem has no user xattrs.
bool SetUserXattr(const std::string& path, const std::string& name, const std::string& value) {
  if (lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) == 0) return true;
  EXPECT_TRUE(errno == ENOTSUP || errno == EOPNOTSUPP) << "lsetxattr: " << errno;
  return false;
}

// The user.* xattrs of a node (the filesystem or a security module may add others).
Xattrs UserXattrs(const Node& node) {
  Xattrs out;
  for (const auto& x : node.xattrs) {
    if (x.first.rfind("user.", 0) == 0) out.push_back(x);
  }
  return out;
}

std::string GetXattr(const std::string& path, const std::string& name) {
  std::string value(256, '\0');
  const ssize_t n = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (n < 0) return "<errno " + std::to_string(errno) + ">";
  value.resize(static_cast<size_t>(n));
  return value;
}

TEST(NodeFromStatTest, RegularFile) {
  test::TempDir dir;
  const std::string path = dir.Sub("f");
  WriteFile(path, "hello");
  ASSERT_EQ(chmod(path.c_str(), 04751), 0);  // setuid is recorded too
  SetMtime(path, kMtimeNs);
  const struct stat st = Lstat(path);
  const Node n = FromPath(path, "f");
  EXPECT_EQ(n.type, NodeType::kFile);
  EXPECT_EQ(n.name, "f");
  EXPECT_EQ(n.mode, 04751u);
  EXPECT_EQ(n.size, 5u);
  EXPECT_EQ(n.mtime_ns, kMtimeNs);
  EXPECT_EQ(n.ctime_ns, TimespecNs(st.st_ctim));
  EXPECT_EQ(n.uid, st.st_uid);
  EXPECT_EQ(n.gid, st.st_gid);
  EXPECT_EQ(n.user, UserName(st.st_uid));
  EXPECT_EQ(n.group, GroupName(st.st_gid));
  EXPECT_EQ(n.inode, st.st_ino);
  EXPECT_EQ(n.device, st.st_dev);
  EXPECT_EQ(n.nlink, 1u);
  EXPECT_TRUE(n.link_target.empty());
  EXPECT_TRUE(n.content.runs.empty());  // content is the archiver's to fill
}

TEST(NodeFromStatTest, HardlinkedFileRecordsItsLinkCount) {
  test::TempDir dir;
  WriteFile(dir.Sub("a"), "x");
  ASSERT_EQ(link(dir.Sub("a").c_str(), dir.Sub("b").c_str()), 0);
  const Node a = FromPath(dir.Sub("a"), "a");
  const Node b = FromPath(dir.Sub("b"), "b");
  EXPECT_EQ(a.nlink, 2u);
  EXPECT_EQ(a.inode, b.inode);
  EXPECT_EQ(a.device, b.device);
}

TEST(NodeFromStatTest, DirectoryHasModeAndNoSize) {
  test::TempDir dir;
  const std::string path = dir.Sub("d");
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  WriteFile(path + "/inside", std::string(10000, 'x'));
  ASSERT_EQ(chmod(path.c_str(), 01750), 0);
  SetMtime(path, kMtimeNs);
  const Node n = FromPath(path, "d");
  EXPECT_EQ(n.type, NodeType::kDir);
  EXPECT_EQ(n.mode, 01750u);
  EXPECT_EQ(n.size, 0u);
  EXPECT_EQ(n.mtime_ns, kMtimeNs);
}

TEST(NodeFromStatTest, SymlinkRecordsItsTargetNotFollowed) {
  test::TempDir dir;
  WriteFile(dir.Sub("target"), "content");
  const std::string target = "../elsewhere/odd name\n";  // dangling, with odd bytes
  ASSERT_EQ(symlink(target.c_str(), dir.Sub("link").c_str()), 0);
  ASSERT_EQ(symlink("target", dir.Sub("good").c_str()), 0);
  SetMtime(dir.Sub("good"), kMtimeNs);  // the link's own time
  const Node dangling = FromPath(dir.Sub("link"), "link");
  EXPECT_EQ(dangling.type, NodeType::kSymlink);
  EXPECT_EQ(dangling.link_target, target);
  EXPECT_EQ(dangling.size, 0u);
  // Named relative to an open directory, as the walk names entries.
  const int dirfd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dirfd, 0);
  struct stat st;
  ASSERT_EQ(fstatat(dirfd, "good", &st, AT_SYMLINK_NOFOLLOW), 0);
  auto good = NodeFromStat(AtPath{dirfd, "good"}, dir.Sub("good"), "good", st);
  close(dirfd);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->type, NodeType::kSymlink);
  EXPECT_EQ(good->link_target, "target");
  EXPECT_EQ(good->mtime_ns, kMtimeNs);
  EXPECT_NE(good->inode, Lstat(dir.Sub("target")).st_ino);
}

TEST(NodeFromStatTest, Fifo) {
  test::TempDir dir;
  const std::string path = dir.Sub("pipe");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  const Node n = FromPath(path, "pipe");
  EXPECT_EQ(n.type, NodeType::kFifo);
  EXPECT_EQ(n.mode, 0640u);
  EXPECT_EQ(n.size, 0u);
  EXPECT_EQ(n.rdev, 0u);
}

TEST(NodeFromStatTest, UserXattrsAreRecordedSortedByName) {
  test::TempDir dir;
  const std::string path = dir.Sub("f");
  WriteFile(path, "x");
  if (!SetUserXattr(path, "user.zeta", "last")) GTEST_SKIP() << "no user xattrs here";
  ASSERT_TRUE(SetUserXattr(path, "user.alpha", std::string("bin\0ary", 7)));
  ASSERT_TRUE(SetUserXattr(path, "user.empty", ""));
  const Node n = FromPath(path, "f");
  EXPECT_EQ(UserXattrs(n), (Xattrs{{"user.alpha", std::string("bin\0ary", 7)},
                                   {"user.empty", ""},
                                   {"user.zeta", "last"}}));
  EXPECT_TRUE(std::is_sorted(n.xattrs.begin(), n.xattrs.end()));
}

// A node to apply: a file's metadata with a recognisable mode and mtime (and a user xattr where
// the filesystem has them).
Node SourceNode(const test::TempDir& dir, bool* with_xattr) {
  const std::string path = dir.Sub("source");
  WriteFile(path, "source");
  EXPECT_EQ(chmod(path.c_str(), 0604), 0);
  *with_xattr = SetUserXattr(path, "user.restored", "yes");
  SetMtime(path, kMtimeNs);
  return FromPath(path, "source");
}

void ExpectApplied(const std::string& path, bool with_xattr) {
  const struct stat st = Lstat(path);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(TimespecNs(st.st_mtim), kMtimeNs);
  if (with_xattr) {
    EXPECT_EQ(GetXattr(path, "user.restored"), "yes");
  }
}

TEST(ApplyMetadataTest, ByNameRoundTrip) {
  test::TempDir dir;
  bool with_xattr = false;
  const Node node = SourceNode(dir, &with_xattr);
  const std::string target = dir.Sub("target");
  WriteFile(target, "other content");
  ASSERT_EQ(chmod(target.c_str(), 0600), 0);
  ASSERT_TRUE(
      ApplyMetadata(AtPath{AT_FDCWD, target.c_str()}, target, node, /*set_owner=*/false).ok());
  ExpectApplied(target, with_xattr);
  // Read back, it is the same metadata.
  const Node back = FromPath(target, "source");
  EXPECT_EQ(back.mode, node.mode);
  EXPECT_EQ(back.mtime_ns, node.mtime_ns);
  EXPECT_EQ(UserXattrs(back), UserXattrs(node));
}

TEST(ApplyMetadataTest, ByFdRoundTrip) {
  test::TempDir dir;
  bool with_xattr = false;
  const Node node = SourceNode(dir, &with_xattr);
  const std::string target = dir.Sub("target");
  const int fd = open(target.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  // The fd is used, not the name: the AtPath names nothing.
  const Status s = ApplyMetadata(AtPath{AT_FDCWD, "/no/such/entry"}, target, node, false, fd);
  close(fd);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectApplied(target, with_xattr);
}

TEST(ApplyMetadataTest, DirectoryByFd) {
  test::TempDir dir;
  bool with_xattr = false;
  const Node node = SourceNode(dir, &with_xattr);
  const std::string target = dir.Sub("d");
  ASSERT_EQ(mkdir(target.c_str(), 0700), 0);
  const int fd = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const Status s = ApplyMetadata(AtPath{}, target, node, false, fd);
  close(fd);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectApplied(target, with_xattr);
}

TEST(ApplyMetadataTest, SymlinkGetsItsOwnTimeAndLeavesItsTargetAlone) {
  test::TempDir dir;
  const std::string source = dir.Sub("source");
  ASSERT_EQ(symlink("anywhere", source.c_str()), 0);
  SetMtime(source, kMtimeNs);
  const Node node = FromPath(source, "source");
  const std::string target_file = dir.Sub("file");
  WriteFile(target_file, "x");
  ASSERT_EQ(chmod(target_file.c_str(), 0600), 0);
  const struct stat file_before = Lstat(target_file);
  const std::string link = dir.Sub("link");
  ASSERT_EQ(symlink("file", link.c_str()), 0);
  const Status s = ApplyMetadata(AtPath{AT_FDCWD, link.c_str()}, link, node, false);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(TimespecNs(Lstat(link).st_mtim), kMtimeNs);
  const struct stat file_after = Lstat(target_file);
  EXPECT_EQ(file_after.st_mode, file_before.st_mode);
  EXPECT_EQ(TimespecNs(file_after.st_mtim), TimespecNs(file_before.st_mtim));
}

TEST(ApplyMetadataTest, OwnerByIdOrByNameWhenItExistsHere) {
  if (geteuid() != 0) GTEST_SKIP() << "chown needs root";
  test::TempDir dir;
  const std::string path = dir.Sub("f");
  WriteFile(path, "x");
  Node node = FromPath(path, "f");
  node.uid = 12345;  // ids of no one on this system: kept as they are
  node.gid = 23456;
  node.user = "no-such-user-for-repo-tests";
  node.group = "";
  ASSERT_TRUE(ApplyMetadata(AtPath{AT_FDCWD, path.c_str()}, path, node, true).ok());
  EXPECT_EQ(Lstat(path).st_uid, 12345u);
  EXPECT_EQ(Lstat(path).st_gid, 23456u);
  // A name this system knows wins over the id (a restore onto another machine).
  node.user = "root";
  node.group = GroupName(0);
  ASSERT_TRUE(ApplyMetadata(AtPath{AT_FDCWD, path.c_str()}, path, node, true).ok());
  EXPECT_EQ(Lstat(path).st_uid, 0u);
  if (!node.group.empty()) {
    EXPECT_EQ(Lstat(path).st_gid, 0u);
  }
}

TEST(ApplyMetadataTest, FailureNamesThePath) {
  test::TempDir dir;
  Node node;
  node.mode = 0644;
  const std::string missing = dir.Sub("missing");
  const Status s = ApplyMetadata(AtPath{AT_FDCWD, missing.c_str()}, missing, node, false);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find(missing), std::string::npos) << s.message();
}

}  // namespace
}  // namespace repo
