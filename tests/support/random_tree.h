// RandomTree: a directory tree built from a seed that holds every kind of file and metadata a
// full-system backup meets (use case 8): nested and empty directories, odd and long names, a
// branch deeper than PATH_MAX, empty, small, large, compressible and sparse files, symlinks of
// every sort, hardlinks across directories, FIFOs, a character device (where allowed), xattrs,
// every mode bit, owners with and without names, and times in ns. For tests that compare a
// restore or a mount with its source (fs_tree.h). Runs as root (owners, devices).
// Header-only.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/fs_tree.h"

namespace repo::test {

inline void Must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Builds a random tree under `root` from a seed. Metadata (owner, mode, times) is applied last,
// deepest directories last of all, so that nothing created later disturbs the times set.
class RandomTree {
 public:
  // `deep_branch`: include the branch deeper than PATH_MAX (cp -a cannot copy it).
  RandomTree(std::string root, uint64_t seed, bool deep_branch = true)
      : root_(std::move(root)), rng_(seed), deep_branch_(deep_branch) {}

  void Build() {
    Must(mkdir(root_.c_str(), 0755) == 0, "mkdir " + root_);
    dirs_.push_back("");
    // Nested directories, some with odd names, and empty ones.
    const std::vector<std::string> dir_names = {
        "a", "b", "nested", "\xff\xfe dir", " sp ace ", "-dash", "new\nline dir", "x"};
    for (int i = 0; i < 10; ++i) {
      std::string parent = Pick(dirs_);
      std::string name = dir_names[Uniform(0, dir_names.size() - 1)] + std::to_string(i);
      MakeDir(Join(parent, name));
    }
    MakeDir("empty");
    MakeDir("empty/nested_empty");
    // A deep path: 7 directories of 200-byte names and a 255-byte file name (> 1024 bytes).
    std::string deep;
    for (int i = 0; i < 7; ++i) {
      deep = Join(deep, std::string(200 - 1, 'a' + i) + std::to_string(i));
      MakeDir(deep);
    }
    const std::string long_name = std::string(250, 'L') + "_long";  // 255 bytes
    WriteRegular(Join(deep, long_name), RandomBytes(Uniform(0, 5000)));

    // Regular files: empty, small, medium, a few MiB; random (incompressible) or text.
    const std::vector<std::string> odd = {" spaced name ",     "new\nline", "tab\there",
                                          "-leading-dash",     "--",        "\xff\xfe",
                                          "\xc3\xa9t\xc3\xa9", "*?[glob]",  "back\\slash",
                                          ".hidden",           "..dots..",  std::string(255, 'n')};
    for (const std::string& name : odd) WriteRegular(Join(Pick(dirs_), name), RandomContent());
    for (int i = 0; i < 25; ++i) {
      WriteRegular(Join(Pick(dirs_), "f" + std::to_string(i)), RandomContent());
    }
    WriteRegular("zero_length", "");
    for (int i = 0; i < 2; ++i) {
      WriteRegular("big" + std::to_string(i), RandomBytes(Uniform(1 << 20, 3 << 20)));
    }

    // Sparse files: islands of data in holes, all hole, data only at the start or the end.
    {
      const std::string p = "sparse_islands";
      int fd = Create(p);
      const uint64_t size = (64ull << 20) + Uniform(0, 100000);
      Must(ftruncate(fd, static_cast<off_t>(size)) == 0, "ftruncate");
      for (int i = 0; i < 4; ++i) {
        std::string data = RandomBytes(Uniform(1, 100000));
        uint64_t at = Uniform(0, size - data.size());
        Must(pwrite(fd, data.data(), data.size(), static_cast<off_t>(at)) ==
                 static_cast<ssize_t>(data.size()),
             "pwrite");
      }
      close(fd);
      sparse_.push_back(p);
    }
    {
      int fd = Create("sparse_all_hole");
      Must(ftruncate(fd, 10 << 20) == 0, "ftruncate");
      close(fd);
      sparse_.push_back("sparse_all_hole");
    }
    {
      int fd = Create("sparse_tail");
      std::string data = RandomBytes(5000);
      Must(pwrite(fd, data.data(), data.size(), 20 << 20) == 5000, "pwrite");
      close(fd);
      sparse_.push_back("sparse_tail");
    }
    {
      int fd = Create("sparse_head");
      std::string data = RandomBytes(70000);
      Must(pwrite(fd, data.data(), data.size(), 0) == 70000, "pwrite");
      Must(ftruncate(fd, 30 << 20) == 0, "ftruncate");
      close(fd);
      sparse_.push_back("sparse_head");
    }

    // Symlinks: relative, absolute, dangling, to a directory, with an odd target.
    MakeSymlink("../f1", Join(Pick(dirs_), "rel_link"));
    MakeSymlink("/etc/passwd", "abs_link");
    MakeSymlink("does/not/exist", "dangling_link");
    MakeSymlink("nested_empty", "empty/link_to_dir");
    MakeSymlink("odd \xff target\nwith newline", "odd_link");

    // Hardlinks: a pair across directories, a triple, one with an odd name.
    MakeLink(Pick(files_), Join(Pick(dirs_), "hardlink_pair"));
    std::string triple = Pick(files_);
    MakeLink(triple, "hardlink_triple_1");
    MakeLink(triple, Join(Pick(dirs_), "hardlink_triple_2"));
    MakeLink(Pick(files_), "hard\nlink \xff");

    // FIFOs and, where allowed, a character device.
    for (int i = 0; i < 2; ++i) {
      std::string p = Join(Pick(dirs_), "fifo" + std::to_string(i));
      Must(mkfifo(Full(p).c_str(), 0644) == 0, "mkfifo " + p);
      others_.push_back(p);
    }
    if (mknod(Full("chardev").c_str(), S_IFCHR | 0640, makedev(1, 3)) == 0) {
      others_.push_back("chardev");
    }

    // A branch deeper than PATH_MAX (4096 bytes), as tar and restic back up: 22 directories of
    // 200-byte names holding a file with xattrs, a hardlink to it, a symlink, a fifo and an empty
    // directory. Made last so that the random placements above stay shallow; the metadata below
    // covers it like the rest.
    if (deep_branch_) {
      std::string very_deep = "very_deep";
      MakeDir(very_deep);
      for (int i = 0; i < 22; ++i) {
        very_deep =
            Join(very_deep, std::string(197, static_cast<char>('A' + i)) + std::to_string(10 + i));
        MakeDir(very_deep);
      }
      const std::string deep_file = Join(very_deep, "file");
      WriteRegular(deep_file, RandomContent());
      SetXattrs(deep_file);
      MakeLink(deep_file, Join(very_deep, "hardlink"));
      MakeSymlink("file", Join(very_deep, "symlink"));
      MakeDir(Join(very_deep, "empty_dir"));
      {
        const std::string fifo = Join(very_deep, "fifo");
        AtName at = At(fifo);
        Must(mkfifoat(at.dir, at.name.c_str(), 0644) == 0, "mkfifo " + fifo);
        others_.push_back(fifo);
      }
    }

    // Xattrs in the user namespace on some files and directories: binary values, empty, long.
    for (const std::string& f : files_) {
      if (Uniform(0, 2) == 0) SetXattrs(f);
    }
    for (const std::string& d : dirs_) {
      if (Uniform(0, 2) == 0) SetXattrs(d);
    }

    // Owners, modes and times: files and other nodes first, then directories deepest first.
    const std::vector<mode_t> file_modes = {0644,  0600,  0755, 0000,  0777, 04755,
                                            02755, 06711, 0444, 01644, 04000};
    const std::vector<mode_t> dir_modes = {0755, 0700, 01777, 02775, 0555, 0000, 03777};
    for (const std::string& f : files_) {
      SetOwner(f);
      Chmod(f, file_modes[Uniform(0, file_modes.size() - 1)]);
      SetTime(f);
    }
    for (const std::string& o : others_) {
      SetOwner(o);
      Chmod(o, Uniform(0, 1) ? 0600 : 0666);
      SetTime(o);
    }
    for (const std::string& l : links_) {
      SetOwner(l);
      SetTime(l);
    }
    std::vector<std::string> dirs = dirs_;
    std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
      return std::count(a.begin(), a.end(), '/') + !a.empty() >
             std::count(b.begin(), b.end(), '/') + !b.empty();
    });
    for (const std::string& d : dirs) {
      SetOwner(d);
      // Any mode, 000 included: restore must still fill the directory (it runs as root).
      mode_t m = dir_modes[Uniform(0, dir_modes.size() - 1)];
      Chmod(d, m);
      SetTime(d);
    }
  }

  const std::vector<std::string>& sparse() const { return sparse_; }
  size_t regular_paths() const { return files_.size() + hardlinks_; }

 private:
  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  const std::string& Pick(const std::vector<std::string>& v) { return v[Uniform(0, v.size() - 1)]; }
  static std::string Join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
  }
  std::string Full(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }
  // `rel` for *at() calls: paths may be longer than PATH_MAX.
  AtName At(const std::string& rel) const {
    AtName at = test::OpenParent(root_, rel);
    Must(at.dir != -1, "opening the directory of " + Printable(rel));
    return at;
  }

  std::string RandomBytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t r = rng_();
      std::memcpy(&s[i], &r, std::min<size_t>(8, n - i));
    }
    return s;
  }
  std::string RandomContent() {
    size_t size;
    switch (Uniform(0, 4)) {
      case 0:
        size = Uniform(0, 1);
        break;
      case 1:
        size = Uniform(2, 4096);
        break;
      case 2:
        size = Uniform(4097, 200000);
        break;
      default:
        size = Uniform(200001, 600000);
        break;
    }
    if (Uniform(0, 1)) return RandomBytes(size);
    std::string text;  // compressible, with repeats the chunker can deduplicate
    while (text.size() < size) text += "line " + std::to_string(Uniform(0, 50)) + " of text\n";
    text.resize(size);
    return text;
  }
  void MakeDir(const std::string& rel) {
    AtName at = At(rel);
    Must(mkdirat(at.dir, at.name.c_str(), 0755) == 0, "mkdir " + Printable(rel));
    dirs_.push_back(rel);
  }
  int Create(const std::string& rel) {
    AtName at = At(rel);
    int fd = openat(at.dir, at.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    Must(fd >= 0, "create " + Printable(rel));
    files_.push_back(rel);
    return fd;
  }
  void WriteRegular(const std::string& rel, const std::string& content) {
    int fd = Create(rel);
    Must(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()),
         "write " + Printable(rel));
    close(fd);
  }
  void MakeSymlink(const std::string& target, const std::string& rel) {
    AtName at = At(rel);
    Must(symlinkat(target.c_str(), at.dir, at.name.c_str()) == 0, "symlink " + Printable(rel));
    links_.push_back(rel);
  }
  void MakeLink(const std::string& existing, const std::string& rel) {
    AtName from = At(existing), at = At(rel);
    Must(linkat(from.dir, from.name.c_str(), at.dir, at.name.c_str(), 0) == 0,
         "link " + Printable(rel));
    ++hardlinks_;  // metadata is shared with `existing`
  }
  void SetXattrs(const std::string& rel) {
    AtName at = At(rel);
    const std::string p = test::XattrName(at.dir, at.name);
    std::string binary = RandomBytes(Uniform(1, 64));
    binary[0] = '\0';
    Must(lsetxattr(p.c_str(), "user.binary", binary.data(), binary.size(), 0) == 0, "setxattr");
    Must(lsetxattr(p.c_str(), "user.empty", "", 0, 0) == 0, "setxattr");
    std::string text = "value of " + Printable(rel).substr(0, 40);
    Must(lsetxattr(p.c_str(), "user.comment", text.data(), text.size(), 0) == 0, "setxattr");
    if (Uniform(0, 1)) {
      std::string big(Uniform(1000, 2000), 'x');
      Must(lsetxattr(p.c_str(), "user.long", big.data(), big.size(), 0) == 0, "setxattr");
    }
  }
  void Chmod(const std::string& rel, mode_t mode) {
    AtName at = At(rel);
    Must(fchmodat(at.dir, at.name.c_str(), mode, 0) == 0, "chmod " + Printable(rel));
  }
  void SetOwner(const std::string& rel) {
    // root; no name (12345 / 54321); a named user (nobody) and group (nogroup).
    static const std::pair<uid_t, gid_t> kOwners[] = {
        {0, 0}, {12345, 12345}, {12345, 0}, {0, 54321}, {65534, 65534}};
    auto [uid, gid] = kOwners[Uniform(0, 4)];
    AtName at = At(rel);
    Must(fchownat(at.dir, at.name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0,
         "lchown " + Printable(rel));
  }
  void SetTime(const std::string& rel) {
    timespec t[2];
    t[1].tv_sec = static_cast<time_t>(Uniform(1000000000, 2000000000));
    t[1].tv_nsec = static_cast<long>(Uniform(0, 999999999));
    t[0] = t[1];
    AtName at = At(rel);
    Must(utimensat(at.dir, at.name.c_str(), t, AT_SYMLINK_NOFOLLOW) == 0,
         "utimensat " + Printable(rel));
  }

  std::string root_;
  std::mt19937_64 rng_;
  std::vector<std::string> dirs_, files_, links_, others_, sparse_;
  size_t hardlinks_ = 0;
  bool deep_branch_;
};

}  // namespace repo::test
