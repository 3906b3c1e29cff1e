#include "repo/fs_meta.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>

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

// Owner lookups go through NSS (by default: open and parse /etc/passwd each time), so each
// answer is remembered for the process: a snapshot or restore asks for the same few owners once
// per file.
template <typename K, typename V, typename Lookup>
V Cached(std::mutex& mu, std::map<K, V>& cache, const K& key, Lookup lookup) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  V value = lookup(key);
  cache.emplace(key, value);
  return value;
}

// The uid of user `name` / gid of group `name` on this system, if it has one.
std::optional<uint32_t> UserId(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  return Cached(mu, cache, name, [](const std::string& n) -> std::optional<uint32_t> {
    passwd pw, *out = nullptr;
    char buf[4096];
    if (getpwnam_r(n.c_str(), &pw, buf, sizeof buf, &out) == 0 && out) return pw.pw_uid;
    return std::nullopt;
  });
}

std::optional<uint32_t> GroupId(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  return Cached(mu, cache, name, [](const std::string& n) -> std::optional<uint32_t> {
    group gr, *out = nullptr;
    char buf[4096];
    if (getgrnam_r(n.c_str(), &gr, buf, sizeof buf, &out) == 0 && out) return gr.gr_gid;
    return std::nullopt;
  });
}

bool HaveProcFd() {
  static const bool have = [] {
    struct stat st;
    return stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode);
  }();
  return have;
}

}  // namespace

std::string XattrPath(AtPath at, const std::string& full_path) {
  if (at.dir == AT_FDCWD) return at.name;
  // A short path resolves faster than a /proc magic link (about 1.5 vs 3.5 us a call).
  if (full_path.size() < PATH_MAX || !HaveProcFd()) return full_path;
  return "/proc/self/fd/" + std::to_string(at.dir) + "/" + at.name;
}

PathResolver::~PathResolver() {
  if (fd_ >= 0) close(fd_);
}

Result<AtPath> PathResolver::Resolve(const std::string& path) {
  if (path.size() < PATH_MAX) return AtPath{AT_FDCWD, path.c_str()};
  const size_t slash = path.rfind('/');  // > 0: no component is PATH_MAX long
  const std::string_view parent(path.data(), slash);
  const char* const name = path.c_str() + slash + 1;
  if (fd_ >= 0 && parent == dir_) return AtPath{fd_, name};
  // Start below the directory held if the new one is inside it, else from the root.
  int from = AT_FDCWD;
  size_t pos = 0;
  if (fd_ >= 0 && parent.size() > dir_.size() && parent.starts_with(dir_) &&
      parent[dir_.size()] == '/') {
    from = fd_;
    pos = dir_.size() + 1;
  }
  int fd = from, err = 0;
  while (pos < slash) {
    size_t end = slash;
    if (end - pos >= PATH_MAX) {  // the longest piece of whole components that fits
      end = path.rfind('/', pos + PATH_MAX - 1);
      if (end == std::string::npos || end <= pos) {
        err = ENAMETOOLONG;
        break;
      }
    }
    const std::string piece = path.substr(pos, end - pos);
    int next = openat(fd, piece.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (next < 0) err = errno;
    if (fd != from) close(fd);
    fd = next;
    if (fd < 0) break;
    pos = end + 1;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  dir_.clear();
  if (fd < 0 || err != 0) {
    if (fd >= 0 && fd != from) close(fd);
    return Status::FromErrno(err, "opening the directory of " + path);
  }
  fd_ = fd;
  dir_.assign(parent);
  return AtPath{fd_, name};
}

uint64_t RaiseOpenFileLimit() {
  static const uint64_t limit = [] {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return uint64_t{1024};
    if (rl.rlim_cur < rl.rlim_max) {
      rlimit raised = rl;
      raised.rlim_cur = rl.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(rl.rlim_cur);
  }();
  return limit;
}

std::string UserName(uint32_t uid) {
  static std::mutex mu;
  static std::map<uint32_t, std::string> cache;
  return Cached(mu, cache, uid, [](uint32_t id) {
    passwd pw, *out = nullptr;
    char buf[4096];
    return getpwuid_r(id, &pw, buf, sizeof buf, &out) == 0 && out ? std::string(pw.pw_name)
                                                                  : std::string();
  });
}

std::string GroupName(uint32_t gid) {
  static std::mutex mu;
  static std::map<uint32_t, std::string> cache;
  return Cached(mu, cache, gid, [](uint32_t id) {
    group gr, *out = nullptr;
    char buf[4096];
    return getgrgid_r(id, &gr, buf, sizeof buf, &out) == 0 && out ? std::string(gr.gr_name)
                                                                  : std::string();
  });
}

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

Status ApplyMetadata(AtPath at, const std::string& path, const Node& node, bool set_owner,
                     int fd) {
  Status first;
  auto note = [&](int err, const std::string& what) {
    if (first.ok()) first = Status::FromErrno(err, what + " " + path);
  };
  if (set_owner) {
    // Like tar: names win when they exist on this system (a restore onto another machine).
    const uid_t uid = node.user.empty() ? node.uid : UserId(node.user).value_or(node.uid);
    const gid_t gid = node.group.empty() ? node.gid : GroupId(node.group).value_or(node.gid);
    if ((fd >= 0 ? fchown(fd, uid, gid) : fchownat(at.dir, at.name, uid, gid, AT_SYMLINK_NOFOLLOW)) != 0) {
      note(errno, "chown");
    }
  }
  const std::string xpath = node.xattrs.empty() || fd >= 0 ? std::string() : XattrPath(at, path);
  for (const auto& [name, value] : node.xattrs) {
    const int rc = fd >= 0
                       ? fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
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
  if ((fd >= 0 ? futimens(fd, times) : utimensat(at.dir, at.name, times, AT_SYMLINK_NOFOLLOW)) != 0) {
    note(errno, "utimes");
  }
  return first;
}

}  // namespace repo
