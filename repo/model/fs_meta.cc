#include "repo/model/fs_meta.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "repo/os/identity.h"

namespace repo {
namespace {

NodeType TypeOf(mode_t m) {
  if (S_ISREG(m)) return NodeType::kFile;
  if (S_ISDIR(m)) return NodeType::kDir;
  if (S_ISLNK(m)) return NodeType::kSymlink;
  if (S_ISFIFO(m)) return NodeType::kFifo;
  if (S_ISCHR(m)) return NodeType::kCharDevice;
  if (S_ISBLK(m)) return NodeType::kBlockDevice;
  return NodeType::kSocket;
}

// `xpath` names the entry for l*xattr (XattrPath); `path` is its full path, for messages.
Status ReadXattrs(const std::string& xpath, const std::string& path, Node* node) {
  std::string names(1024, '\0');
  ssize_t n;
  while ((n = llistxattr(xpath.c_str(), names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENOSYS) return Status::OK();
    return Status::FromErrno(errno, "listing xattrs of " + path);
  }
  names.resize(static_cast<size_t>(n));
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.empty()) continue;
    std::string value(256, '\0');
    ssize_t v;
    while ((v = lgetxattr(xpath.c_str(), name.c_str(), value.data(), value.size())) < 0 &&
           errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (v < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return Status::FromErrno(errno, "reading xattr " + name + " of " + path);
    }
    value.resize(static_cast<size_t>(v));
    node->xattrs.emplace_back(std::move(name), std::move(value));
  }
  std::sort(node->xattrs.begin(), node->xattrs.end());
  return Status::OK();
}

}  // namespace

Result<Node> NodeFromStat(AtPath at, const std::string& path, std::string name,
                          const struct stat& st) {
  Node n;
  n.type = TypeOf(st.st_mode);
  n.name = std::move(name);
  n.mode = st.st_mode & 07777;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.user = UserName(st.st_uid);
  n.group = GroupName(st.st_gid);
  n.mtime_ns = TimespecNs(st.st_mtim);
  n.ctime_ns = TimespecNs(st.st_ctim);
  n.size = n.type == NodeType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
  n.inode = st.st_ino;
  n.device = st.st_dev;
  n.nlink = static_cast<uint32_t>(st.st_nlink);
  if (n.type == NodeType::kCharDevice || n.type == NodeType::kBlockDevice) n.rdev = st.st_rdev;
  if (n.type == NodeType::kSymlink) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t len = readlinkat(at.dir, at.name, target.data(), target.size());
    if (len < 0) return Status::FromErrno(errno, "reading symlink " + path);
    target.resize(static_cast<size_t>(len));
    n.link_target = std::move(target);
  }
  RETURN_IF_ERROR(ReadXattrs(XattrPath(at, path), path, &n));
  return n;
}

Status ApplyMetadata(AtPath at, const std::string& path, const Node& node, bool set_owner, int fd) {
  Status first;
  auto note = [&](int err, const std::string& what) {
    if (first.ok()) first = Status::FromErrno(err, what + " " + path);
  };
  if (set_owner) {
    // Like tar: names win when they exist on this system (a restore onto another machine).
    const uid_t uid = node.user.empty() ? node.uid : UserId(node.user).value_or(node.uid);
    const gid_t gid = node.group.empty() ? node.gid : GroupId(node.group).value_or(node.gid);
    if ((fd >= 0 ? fchown(fd, uid, gid)
                 : fchownat(at.dir, at.name, uid, gid, AT_SYMLINK_NOFOLLOW)) != 0) {
      note(errno, "chown");
    }
  }
  const std::string xpath = node.xattrs.empty() || fd >= 0 ? std::string() : XattrPath(at, path);
  for (const auto& [name, value] : node.xattrs) {
    const int rc = fd >= 0 ? fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
                           : lsetxattr(xpath.c_str(), name.c_str(), value.data(), value.size(), 0);
    if (rc != 0 && errno != ENOTSUP && !(errno == EPERM && !set_owner)) {
      note(errno, "setting xattr " + name + " on");
    }
  }
  // chmod after chown: chown clears setuid/setgid bits.
  if (node.type != NodeType::kSymlink &&
      (fd >= 0 ? fchmod(fd, node.mode) : fchmodat(at.dir, at.name, node.mode, 0)) != 0) {
    note(errno, "chmod");
  }
  timespec times[2];
  times[0].tv_sec = node.mtime_ns / 1000000000;  // atime is not recorded: use mtime
  times[0].tv_nsec = node.mtime_ns % 1000000000;
  times[1] = times[0];
  if ((fd >= 0 ? futimens(fd, times) : utimensat(at.dir, at.name, times, AT_SYMLINK_NOFOLLOW)) !=
      0) {
    note(errno, "utimes");
  }
  return first;
}

}  // namespace repo
