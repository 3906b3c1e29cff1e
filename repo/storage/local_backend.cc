#include "repo/storage/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>

#include "repo/os/fd_io.h"

namespace repo {
namespace {

const char* SubdirOf(FileType t) {
  switch (t) {
    case FileType::kConfig:
      return "";
    case FileType::kKey:
      return "keys";
    case FileType::kPack:
      return "data";
    case FileType::kIndex:
      return "index";
    case FileType::kSnapshot:
      return "snapshots";
    case FileType::kSession:
      return "locks";
  }
  return "";
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "creating directory " + path);
  }
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "opening directory " + dir);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync of directory " + dir);
  return Status::OK();
}

// Writes a large file with O_DIRECT where the filesystem allows it: every file here is written
// once and fsync'd, and is not read back soon, so copying it into the page cache first only
// costs CPU (about 7% of a snapshot's, in the kernel's page-cache copy). The data goes through an
// aligned bounce buffer; the unaligned tail is written after O_DIRECT is cleared again. Where
// O_DIRECT is refused (tmpfs, some network filesystems) it is an ordinary buffered write.
Status WriteLarge(int fd, ByteSpan data, const std::string& path) {
  constexpr size_t kAlign = 4096;
  constexpr size_t kBounce = 1 << 20;
  const int flags = fcntl(fd, F_GETFL);
  if (data.size() < kBounce || flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
    return WriteAll(fd, data, "writing " + path);
  }
  std::unique_ptr<uint8_t, decltype(&free)> bounce(
      static_cast<uint8_t*>(aligned_alloc(kAlign, kBounce)), &free);
  if (!bounce) return Status::IOError("writing " + path + ": out of memory");
  const size_t aligned = data.size() / kAlign * kAlign;
  size_t done = 0;
  while (done < aligned) {
    const size_t n = std::min(kBounce, aligned - done);
    std::memcpy(bounce.get(), data.data() + done, n);
    ssize_t w = write(fd, bounce.get(), n);
    if (w < 0 && errno == EINTR) continue;
    // Refused (EINVAL: a filesystem that took the flag but not the write) or short: the rest
    // goes the ordinary way below.
    if (w < 0 && errno != EINVAL) return Status::FromErrno(errno, "writing " + path);
    if (w > 0) done += static_cast<size_t>(w);
    if (w != static_cast<ssize_t>(n)) break;
  }
  if (fcntl(fd, F_SETFL, flags) != 0) return Status::FromErrno(errno, "writing " + path);
  return WriteAll(fd, data.subspan(done), "writing " + path);
}

std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t seed = std::random_device{}() ^ (uint64_t(getpid()) << 32);
  return ".tmp-" + std::to_string(seed) + "-" + std::to_string(counter.fetch_add(1));
}

Status ListDir(const std::string& dir, std::vector<std::string>* names) {
  DIR* d = opendir(dir.c_str());
  if (!d) return Status::FromErrno(errno, "listing " + dir);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names->push_back(e->d_name);
  }
  closedir(d);
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<LocalBackend>> LocalBackend::Create(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::AlreadyExists(path + " exists and is not a directory");
    std::vector<std::string> names;
    RETURN_IF_ERROR(ListDir(path, &names));
    if (!names.empty()) {
      return Status::AlreadyExists(path + " is not empty; choose a new or empty directory");
    }
  } else {
    RETURN_IF_ERROR(MakeDir(path));
  }
  for (const char* sub : {"keys", "data", "index", "snapshots", "locks"}) {
    RETURN_IF_ERROR(MakeDir(path + "/" + sub));
  }
  RETURN_IF_ERROR(SyncDir(path));
  return std::unique_ptr<LocalBackend>(new LocalBackend(path));
}

Result<std::unique_ptr<LocalBackend>> LocalBackend::Open(const std::string& path) {
  // A directory with neither a config nor keys/ is no repository. One with keys/ but no config
  // is opened: Repository::Open tells a lost config from an interrupted init.
  struct stat st;
  if (stat((path + "/config").c_str(), &st) != 0 && stat((path + "/keys").c_str(), &st) != 0) {
    return Status::NotFound("no repository at " + path + " (run 'repo init' to create one)");
  }
  return std::unique_ptr<LocalBackend>(new LocalBackend(path));
}

std::string LocalBackend::DirOf(const FileHandle& h) const {
  if (h.type == FileType::kConfig) return root_;
  std::string dir = root_ + "/" + SubdirOf(h.type);
  if (h.type == FileType::kPack) dir += "/" + h.name.substr(0, 2);
  return dir;
}

std::string LocalBackend::PathOf(const FileHandle& h) const {
  if (h.type == FileType::kConfig) return root_ + "/config";
  return DirOf(h) + "/" + h.name;
}

Result<std::vector<FileInfo>> LocalBackend::List(FileType type) {
  std::vector<FileInfo> out;
  if (type == FileType::kConfig) {
    auto st = Stat({type, ""});
    if (st.ok()) out.push_back(*st);
    return out;
  }
  std::vector<std::string> dirs;
  std::string base = root_ + "/" + SubdirOf(type);
  // A directory that is not there lists as empty: `init` makes every one, but tools that copy
  // a repository may drop empty directories (git does), and Write makes them again.
  const auto list = [](const std::string& dir, std::vector<std::string>* names) {
    Status s = ListDir(dir, names);
    return s.IsNotFound() ? Status::OK() : s;
  };
  if (type == FileType::kPack) {
    std::vector<std::string> shards;
    RETURN_IF_ERROR(list(base, &shards));
    for (const auto& s : shards) dirs.push_back(base + "/" + s);
  } else {
    dirs.push_back(base);
  }
  for (const auto& dir : dirs) {
    std::vector<std::string> names;
    RETURN_IF_ERROR(list(dir, &names));
    for (auto& n : names) {
      if (!ValidateHandle({type, n}).ok()) continue;  // not ours; never returned
      out.push_back({std::move(n), std::nullopt});    // no stat: FileInfo
    }
  }
  return out;
}

Result<FileInfo> LocalBackend::Stat(const FileHandle& h) {
  RETURN_IF_ERROR(ValidateHandle(h));
  struct stat st;
  if (stat(PathOf(h).c_str(), &st) != 0) return Status::FromErrno(errno, h.Describe());
  return FileInfo{h.name, static_cast<uint64_t>(st.st_size)};
}

Result<Bytes> LocalBackend::Read(const FileHandle& h, uint64_t offset, uint64_t length) {
  Bytes out;
  RETURN_IF_ERROR(ReadInto(h, offset, length, &out));
  return out;
}

Status LocalBackend::ReadInto(const FileHandle& h, uint64_t offset, uint64_t length, Bytes* out) {
  RETURN_IF_ERROR(ValidateHandle(h));
  const std::string path = PathOf(h);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "opening " + h.Describe());
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno(err, "stat " + path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (length == kToEnd) length = offset <= size ? size - offset : 0;
  if (offset > size || length > size - offset) {
    close(fd);
    return Status::Corruption(h.Describe() + ": short file: wanted " + std::to_string(length) +
                              " bytes at offset " + std::to_string(offset) + ", file has " +
                              std::to_string(size));
  }
  out->resize(length);
  Result<size_t> got = PreadFull(fd, *out, offset, "reading " + h.Describe());
  close(fd);
  if (!got.ok()) return got.status();
  if (*got < length) return Status::Corruption(h.Describe() + ": file shrank while reading");
  return Status::OK();
}

Status LocalBackend::Write(const FileHandle& h, ByteSpan data) {
  RETURN_IF_ERROR(ValidateHandle(h));
  const std::string dir = DirOf(h);
  const std::string tmp = dir + "/" + TempName();
  const std::string path = PathOf(h);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT && h.type != FileType::kConfig) {
    // Pack shard directories (data/00 .. data/ff) are made on first use, and so is a type's
    // directory that a copy of the repository dropped while empty (see List).
    const std::string type_dir = root_ + "/" + SubdirOf(h.type);
    RETURN_IF_ERROR(MakeDir(type_dir));
    if (dir != type_dir) RETURN_IF_ERROR(MakeDir(dir));
    RETURN_IF_ERROR(SyncDir(type_dir));
    RETURN_IF_ERROR(SyncDir(root_));
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) return Status::FromErrno(errno, "creating " + tmp);
  Status s = WriteLarge(fd, data, tmp);
  if (s.ok() && fsync(fd) != 0) s = Status::FromErrno(errno, "fsync of " + tmp);
  if (close(fd) != 0 && s.ok()) s = Status::FromErrno(errno, "closing " + tmp);
  if (s.ok() && link(tmp.c_str(), path.c_str()) != 0) {
    s = errno == EEXIST ? Status::AlreadyExists(h.Describe() + ": file exists")
                        : Status::FromErrno(errno, "linking " + path);
  }
  unlink(tmp.c_str());
  if (!s.ok()) return s;
  s = SyncDir(dir);
  // Not known to be durable: not there at all, as far as this call can make it.
  if (!s.ok()) unlink(path.c_str());
  return s;
}

Status LocalBackend::Delete(const FileHandle& h) {
  RETURN_IF_ERROR(ValidateHandle(h));
  if (unlink(PathOf(h).c_str()) != 0) return Status::FromErrno(errno, "deleting " + h.Describe());
  return SyncDir(DirOf(h));
}

}  // namespace repo
