// FsTree: what a directory tree looks like to lstat(2), readlink(2) and getxattr(2), independent
// of `repo`, so that a restore can be compared with its source by something other than the code
// under test. Captures type, mode, owner, size, mtime (ns), link target, device number, xattrs,
// hardlink grouping and allocated blocks; contents are compared by reading both files. Works at
// any depth (paths longer than PATH_MAX). Header-only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace repo::test {

// `s` with bytes that are not printable ASCII shown as \xNN (and \n, \t), for messages about
// file names that contain anything.
inline std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

struct FsEntry {
  mode_t mode = 0;  // full st_mode: type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t nlink = 0;
  uint64_t blocks = 0;  // st_blocks (512-byte units)
  uint64_t inode = 0;
  dev_t rdev = 0;
  std::string link_target;
  std::map<std::string, std::string> xattrs;
  std::string hardlink_group;  // non-directories: the smallest path sharing this inode
};

// Entries are reached relative to open directories (fstatat, readlinkat, openat; xattrs through
// "/proc/self/fd/<dir>/<name>"), never by their full path, so trees deeper than PATH_MAX (4096
// bytes) are captured and compared too.

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// `rel` under the directory `root` ("" for root itself) named for *at() calls at any depth:
// `dir` is its parent, opened one component at a time from "/" (or "." for a relative root) with
// O_PATH, following symlinks in `root` but not in `rel`; `name` is its last component. `dir` is
// -1 if a directory on the way cannot be opened.
struct AtName {
  Fd held;  // owns `dir` when it was opened
  int dir = AT_FDCWD;
  std::string name;
};

inline AtName OpenParent(const std::string& root, const std::string& rel) {
  const std::string path = rel.empty() ? root : root + "/" + rel;
  AtName at;
  const size_t last = path.rfind('/');
  if (last == std::string::npos) {  // a name in the working directory
    at.name = path;
    return at;
  }
  const bool absolute = path[0] == '/';
  at.held = Fd(open(absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (size_t pos = absolute ? 1 : 0; at.held.get() >= 0 && pos < last;) {
    const size_t slash = path.find('/', pos);
    const std::string component = path.substr(pos, slash - pos);
    const int follow = slash < root.size() ? 0 : O_NOFOLLOW;
    if (!component.empty()) {
      at.held =
          Fd(openat(at.held.get(), component.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | follow));
    }
    pos = slash + 1;
  }
  at.dir = at.held.get();
  at.name = path.substr(last + 1);
  return at;
}

// The name path-only calls (l*xattr) accept for `name` in `dir` at any depth.
inline std::string XattrName(int dir, const std::string& name) {
  return dir == AT_FDCWD ? name : "/proc/self/fd/" + std::to_string(dir) + "/" + name;
}

namespace fs_tree_internal {

inline void Capture(int dir, const std::string& name, const std::string& rel,
                    const std::string& root, std::map<std::string, FsEntry>& out,
                    std::map<uint64_t, std::string>& first_path) {
  const std::string shown = Printable(rel.empty() ? root : root + "/" + rel);
  struct stat st;
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    throw std::runtime_error("lstat " + shown);
  }
  FsEntry e;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.size = S_ISDIR(st.st_mode) ? 0 : static_cast<uint64_t>(st.st_size);
  e.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  e.nlink = st.st_nlink;
  e.blocks = static_cast<uint64_t>(st.st_blocks);
  e.inode = st.st_ino;
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) e.rdev = st.st_rdev;
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlinkat(dir, name.c_str(), target.data(), target.size());
    if (n < 0) throw std::runtime_error("readlink " + shown);
    target.resize(static_cast<size_t>(n));
    e.link_target = target;
  }
  const std::string xname = XattrName(dir, name);
  std::vector<char> names(65536);
  ssize_t n = llistxattr(xname.c_str(), names.data(), names.size());
  if (n < 0) throw std::runtime_error("llistxattr " + shown);
  for (ssize_t pos = 0; pos < n;) {
    std::string xattr(names.data() + pos);
    pos += static_cast<ssize_t>(xattr.size()) + 1;
    std::string value(65536, '\0');
    ssize_t v = lgetxattr(xname.c_str(), xattr.c_str(), value.data(), value.size());
    if (v < 0) throw std::runtime_error("lgetxattr " + xattr + " " + shown);
    value.resize(static_cast<size_t>(v));
    e.xattrs[xattr] = value;
  }
  out[rel] = e;
  if (!S_ISDIR(st.st_mode)) {
    auto [it, inserted] = first_path.emplace(st.st_ino, rel);
    if (!inserted && rel < it->second) it->second = rel;
    return;
  }
  Fd fd(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) throw std::runtime_error("open directory " + shown);
  DIR* d = fdopendir(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!d) throw std::runtime_error("opendir " + shown);
  std::vector<std::string> children;
  while (dirent* de = readdir(d)) {
    std::string child = de->d_name;
    if (child != "." && child != "..") children.push_back(child);
  }
  closedir(d);
  for (const std::string& child : children) {
    Capture(fd.get(), child, rel.empty() ? child : rel + "/" + child, root, out, first_path);
  }
}

}  // namespace fs_tree_internal

// Every entry under `root` (exclusive) by path relative to it, plus "" for `root` itself.
// `root` may be longer than PATH_MAX too. Throws std::runtime_error if something cannot be read.
inline std::map<std::string, FsEntry> CaptureTree(const std::string& root) {
  std::map<std::string, FsEntry> out;
  std::map<uint64_t, std::string> first_path;  // inode -> smallest relative path
  AtName at = OpenParent(root, "");
  if (at.dir == -1) throw std::runtime_error("opening the directory of " + Printable(root));
  fs_tree_internal::Capture(at.dir, at.name, "", root, out, first_path);
  for (auto& [rel, e] : out) {
    if (!S_ISDIR(e.mode)) e.hardlink_group = first_path[e.inode];
  }
  return out;
}

// True if the regular files `rel` under `root_a` and under `root_b` have the same bytes; `why`
// says where they differ.
inline bool SameContent(const std::string& root_a, const std::string& root_b,
                        const std::string& rel, std::string* why) {
  AtName at_a = OpenParent(root_a, rel), at_b = OpenParent(root_b, rel);
  Fd a(openat(at_a.dir, at_a.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  Fd b(openat(at_b.dir, at_b.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  const int fa = a.get(), fb = b.get();
  bool same = fa >= 0 && fb >= 0;
  if (!same) *why = "cannot open";
  std::vector<char> ba(1 << 20), bb(1 << 20);
  uint64_t offset = 0;
  while (same) {
    ssize_t na = read(fa, ba.data(), ba.size());
    ssize_t nb = na < 0 ? -1 : read(fb, bb.data(), static_cast<size_t>(na));
    if (na < 0 || nb < 0) {
      *why = "read error";
      same = false;
    } else if (na != nb) {
      *why = "lengths differ at offset " + std::to_string(offset + static_cast<uint64_t>(nb));
      same = false;
    } else if (na == 0) {
      char extra;
      if (read(fb, &extra, 1) != 0) {
        *why = "restored file is longer";
        same = false;
      }
      break;
    } else {
      for (ssize_t i = 0; i < na; ++i) {
        if (ba[i] != bb[i]) {
          *why = "bytes differ at offset " + std::to_string(offset + static_cast<uint64_t>(i));
          same = false;
          break;
        }
      }
      offset += static_cast<uint64_t>(na);
    }
  }
  return same;
}

struct CompareOptions {
  // Allowed growth of a sparse file's allocation on restore, in 512-byte blocks: holes must stay
  // holes, but a filesystem may allocate a little differently.
  uint64_t sparse_slack_blocks = 256;
  bool compare_root = true;  // also the metadata of the two roots themselves
};

// Differences between the trees at `original` and `restored`, one line each (empty: identical
// in everything a restore promises to keep).
inline std::vector<std::string> CompareTrees(const std::string& original,
                                             const std::string& restored,
                                             const CompareOptions& opts = {}) {
  std::vector<std::string> diffs;
  std::map<std::string, FsEntry> a, b;
  try {
    a = CaptureTree(original);
    b = CaptureTree(restored);
  } catch (const std::exception& e) {
    return {std::string("cannot capture tree: ") + e.what()};
  }
  for (const auto& [rel, ea] : a) {
    if (rel.empty() && !opts.compare_root) continue;
    const std::string name = rel.empty() ? "(root)" : Printable(rel);
    auto it = b.find(rel);
    if (it == b.end()) {
      diffs.push_back("missing in restore: " + name);
      continue;
    }
    const FsEntry& eb = it->second;
    auto diff = [&](const char* what, const std::string& x, const std::string& y) {
      diffs.push_back(name + ": " + what + " " + x + " (original) vs " + y + " (restored)");
    };
    char ma[16], mb[16];
    std::snprintf(ma, sizeof ma, "%o", ea.mode);
    std::snprintf(mb, sizeof mb, "%o", eb.mode);
    if (ea.mode != eb.mode) diff("st_mode", ma, mb);
    if ((ea.mode & S_IFMT) != (eb.mode & S_IFMT)) continue;  // nothing else is comparable
    if (ea.uid != eb.uid) diff("uid", std::to_string(ea.uid), std::to_string(eb.uid));
    if (ea.gid != eb.gid) diff("gid", std::to_string(ea.gid), std::to_string(eb.gid));
    if (ea.size != eb.size) diff("size", std::to_string(ea.size), std::to_string(eb.size));
    if (ea.mtime_ns != eb.mtime_ns) {
      diff("mtime_ns", std::to_string(ea.mtime_ns), std::to_string(eb.mtime_ns));
    }
    if (ea.link_target != eb.link_target) {
      diff("symlink target", Printable(ea.link_target), Printable(eb.link_target));
    }
    if (ea.rdev != eb.rdev) {
      diff("rdev", std::to_string(ea.rdev), std::to_string(eb.rdev));
    }
    if (ea.xattrs != eb.xattrs) {
      auto list = [](const std::map<std::string, std::string>& m) {
        std::string s;
        for (const auto& [k, v] : m) s += k + "=" + Printable(v).substr(0, 40) + ";";
        return "{" + s + "}";
      };
      diff("xattrs", list(ea.xattrs), list(eb.xattrs));
    }
    if (!S_ISDIR(ea.mode)) {
      if (ea.hardlink_group != eb.hardlink_group) {
        diff("hardlink group", Printable(ea.hardlink_group), Printable(eb.hardlink_group));
      }
      if (ea.nlink != eb.nlink) diff("nlink", std::to_string(ea.nlink), std::to_string(eb.nlink));
    }
    if (S_ISREG(ea.mode) && ea.size == eb.size) {
      std::string why;
      if (!SameContent(original, restored, rel, &why)) {
        diffs.push_back(name + ": content differs: " + why);
      }
      const bool sparse = ea.blocks * 512 < ea.size;
      if (sparse && eb.blocks > ea.blocks + opts.sparse_slack_blocks) {
        diff("allocated 512-byte blocks of sparse file", std::to_string(ea.blocks),
             std::to_string(eb.blocks));
      }
    }
  }
  for (const auto& [rel, eb] : b) {
    if (!a.count(rel)) diffs.push_back("extra in restore: " + Printable(rel));
  }
  return diffs;
}

}  // namespace repo::test
