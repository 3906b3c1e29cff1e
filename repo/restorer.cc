#include "repo/restorer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "repo/blob_codec.h"
#include "repo/fs_meta.h"
#include "repo/path_glob.h"
#include "repo/tree_io.h"

namespace repo {
namespace {

// Content runs restored per batch: bounds the plan's memory (~100 bytes a run) for any size.
constexpr size_t kRunsPerBatch = 500000;
// Adjacent blobs of one pack are fetched in one read of up to this many bytes.
constexpr uint64_t kMaxRead = 16u << 20;

// Paths under the target can be longer than PATH_MAX: every call below names its file through a
// PathResolver (fs_meta.h), which passes ordinary paths through unchanged.

// `mkdir -p` for a path of any length.
Status MakeDirectories(const std::string& path) {
  PathResolver resolver;
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);  // the whole path when end is npos
    ASSIGN_OR_RETURN(AtPath at, resolver.Resolve(prefix));
    if (mkdirat(at.dir, at.name, 0777) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "creating target " + prefix);
    }
    if (end == std::string::npos) {
      struct stat st;
      if (fstatat(at.dir, at.name, &st, 0) != 0) {
        return Status::FromErrno(errno, "creating target " + path);
      }
      if (!S_ISDIR(st.st_mode)) return Status::FromErrno(ENOTDIR, "creating target " + path);
      return Status::OK();
    }
  }
}

bool MatchesSelfOrAncestor(const std::vector<std::string>& patterns, const std::string& path) {
  for (size_t end = path.size(); end > 0; end = path.rfind('/', end - 1)) {
    const std::string prefix = path.substr(0, end);
    for (const auto& p : patterns) {
      if (PathGlobMatches(p, prefix)) return true;
    }
    if (end == 0) break;
  }
  return false;
}

struct PlannedFile {
  std::string path;  // target path
  Node node;
};

// Target files kept open while one pack is restored (closed when it is done, or when too many).
class OpenFiles {
 public:
  ~OpenFiles() { CloseAll(); }
  Result<int> Get(uint32_t file, const std::string& path) {
    auto it = fds_.find(file);
    if (it != fds_.end()) return it->second;
    if (fds_.size() >= kMaxOpen) CloseAll();
    ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(path));
    int fd = openat(at.dir, at.name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Status::FromErrno(errno, "opening " + path);
    fds_.emplace(file, fd);
    return fd;
  }

 private:
  static constexpr size_t kMaxOpen = 64;
  void CloseAll() {
    for (auto& [file, fd] : fds_) close(fd);
    fds_.clear();
  }
  std::unordered_map<uint32_t, int> fds_;
  PathResolver resolver_;  // this thread's
};

struct Target {
  uint32_t file;    // index into the batch's files
  uint64_t offset;  // in the file
};

class Restorer {
 public:
  Restorer(Repository& repo, BlobStore& store, const RestoreOptions& opts,
           RestoreProgress* progress, const RestoreWarning& warn)
      : repo_(repo), store_(store), opts_(opts), progress_(progress), warn_(warn) {}

  Result<RestoreSummary> Run(const Snapshot& snapshot);

 private:
  Status Plan(const Snapshot& snapshot);
  Status CheckConflicts();
  Status CreateSkeleton();
  Status RestoreContents(size_t begin, size_t end);
  Status RestorePack(const Id& pack, std::vector<std::pair<BlobLocation, Id>>& blobs,
                     const std::unordered_map<Id, std::vector<Target>, IdHash>& targets,
                     size_t first_file);
  Status Verify(const PlannedFile& f);
  void Warn(const std::string& m) {
    std::lock_guard<std::mutex> lock(mu_);
    ++summary_.warnings;
    if (warn_) warn_(m);
  }
  std::string TargetPath(const std::string& snapshot_path) const {
    return opts_.target + snapshot_path;
  }
  // lstat(2) of a target path of any length; false if it cannot be (e.g. it does not exist).
  bool Lstat(const std::string& path, struct stat* st) {
    auto at = resolver_.Resolve(path);
    if (!at.ok()) return false;
    return fstatat(at->dir, at->name, st, AT_SYMLINK_NOFOLLOW) == 0;
  }

  Repository& repo_;
  BlobStore& store_;
  const RestoreOptions& opts_;
  RestoreProgress* progress_;
  const RestoreWarning& warn_;
  const bool as_root_ = geteuid() == 0;
  PathResolver resolver_;  // the calling thread's (workers have their own)

  std::mutex mu_;
  RestoreSummary summary_;
  std::vector<std::pair<std::string, Node>> dirs_;     // target path, node; parents first
  std::vector<PlannedFile> files_;                     // regular files with content to write
  std::vector<std::pair<std::string, Node>> others_;   // symlinks, fifos, devices, sockets
  std::vector<std::pair<std::string, std::string>> links_;  // hardlink path -> first path
};

bool RestoreSelectsImpl(const RestoreOptions& o, const std::string& path, bool is_dir,
                        bool* descend_only) {
  *descend_only = false;
  for (const auto& p : o.excludes) {
    if (PathGlobMatches(p, path)) return false;
  }
  if (o.includes.empty() || MatchesSelfOrAncestor(o.includes, path)) return true;
  // A directory not matched itself may still lead to a match below it.
  if (is_dir) *descend_only = true;
  return is_dir;
}

Status Restorer::Plan(const Snapshot& snapshot) {
  std::map<std::pair<uint64_t, uint64_t>, std::string> first_link;  // (dev, ino) -> target path
  std::set<std::string> created_dirs;
  // Directories seen but not yet needed (only walked through to reach an include).
  std::map<std::string, Node> pending_dirs;
  auto need_dir_chain = [&](const std::string& snap_path) {
    // Make every ancestor directory of snap_path part of the restore.
    std::vector<std::string> chain;
    for (size_t end = snap_path.rfind('/'); end != std::string::npos && end > 0;
         end = snap_path.rfind('/', end - 1)) {
      chain.push_back(snap_path.substr(0, end));
    }
    std::reverse(chain.begin(), chain.end());
    for (const auto& d : chain) {
      if (created_dirs.insert(d).second) {
        auto it = pending_dirs.find(d);
        if (it != pending_dirs.end()) dirs_.emplace_back(TargetPath(d), it->second);
      }
    }
  };
  return WalkTree(store_, snapshot.tree, [&](const std::string& path, const Node& n) -> Result<bool> {
    bool descend_only = false;
    if (!RestoreSelectsImpl(opts_, path, n.type == NodeType::kDir, &descend_only)) return false;
    if (n.type == NodeType::kDir) {
      pending_dirs[path] = n;
      if (!descend_only) {
        need_dir_chain(path);
        if (created_dirs.insert(path).second) dirs_.emplace_back(TargetPath(path), n);
      }
      return true;
    }
    need_dir_chain(path);
    const std::string target = TargetPath(path);
    if (n.type == NodeType::kFile) {
      if (n.nlink > 1) {
        auto [it, first] = first_link.emplace(std::make_pair(n.device, n.inode), target);
        if (!first) {
          links_.emplace_back(target, it->second);
          return false;
        }
      }
      files_.push_back({target, n});
      if (progress_) {
        progress_->total_files++;
        progress_->total_bytes += n.size;
      }
    } else {
      others_.emplace_back(target, n);
    }
    return false;
  });
}

Status Restorer::CheckConflicts() {
  if (opts_.overwrite) return Status::OK();
  auto check = [this](const std::string& path) -> Status {
    struct stat st;
    if (Lstat(path, &st)) {
      return Status::AlreadyExists(path + " exists; restore into an empty directory or use --overwrite");
    }
    return Status::OK();
  };
  for (const auto& f : files_) RETURN_IF_ERROR(check(f.path));
  for (const auto& [path, n] : others_) RETURN_IF_ERROR(check(path));
  for (const auto& [path, first] : links_) RETURN_IF_ERROR(check(path));
  for (const auto& [path, n] : dirs_) {
    struct stat st;
    if (Lstat(path, &st) && !S_ISDIR(st.st_mode)) {
      return Status::AlreadyExists(path + " exists and is not a directory; use --overwrite");
    }
  }
  return Status::OK();
}

Status Restorer::CreateSkeleton() {
  for (const auto& [path, n] : dirs_) {
    ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(path));
    struct stat st;
    if (fstatat(at.dir, at.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
      if (unlinkat(at.dir, at.name, 0) != 0) return Status::FromErrno(errno, "replacing " + path);
    }
    if (mkdirat(at.dir, at.name, 0700) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "creating directory " + path);
    }
    ++summary_.dirs;
  }
  for (const auto& f : files_) {
    ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(f.path));
    if (opts_.overwrite) unlinkat(at.dir, at.name, 0);  // replace whatever is there, even a symlink
    int fd = openat(at.dir, at.name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Status::FromErrno(errno, "creating " + f.path);
    // The full size at once: holes of sparse files stay holes, data is written into place.
    int rc = ftruncate(fd, static_cast<off_t>(f.node.size));
    int err = errno;
    close(fd);
    if (rc != 0) return Status::FromErrno(err, "sizing " + f.path);
  }
  for (const auto& [path, n] : others_) {
    ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(path));
    if (opts_.overwrite) unlinkat(at.dir, at.name, 0);
    int rc = 0;
    switch (n.type) {
      case NodeType::kSymlink:
        rc = symlinkat(n.link_target.c_str(), at.dir, at.name);
        break;
      case NodeType::kFifo:
        rc = mkfifoat(at.dir, at.name, 0600);
        break;
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice:
        rc = mknodat(at.dir, at.name,
                     (n.type == NodeType::kCharDevice ? S_IFCHR : S_IFBLK) | 0600,
                     static_cast<dev_t>(n.rdev));
        break;
      case NodeType::kSocket:
        // A socket cannot be recreated without a listener; restic and tar skip them too.
        continue;
      default:
        break;
    }
    if (rc != 0) {
      if (errno == EPERM && !as_root_ &&
          (n.type == NodeType::kCharDevice || n.type == NodeType::kBlockDevice)) {
        Warn("cannot create device " + path + " (needs root)");
        continue;
      }
      return Status::FromErrno(errno, "creating " + path);
    }
    ++summary_.others;
  }
  PathResolver first_resolver;  // a link needs both of its ends open at once
  for (const auto& [path, first] : links_) {
    ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(path));
    ASSIGN_OR_RETURN(AtPath first_at, first_resolver.Resolve(first));
    if (opts_.overwrite) unlinkat(at.dir, at.name, 0);
    if (linkat(first_at.dir, first_at.name, at.dir, at.name, 0) != 0) {
      return Status::FromErrno(errno, "linking " + path + " to " + first);
    }
    ++summary_.others;
  }
  return Status::OK();
}

Status Restorer::RestorePack(const Id& pack, std::vector<std::pair<BlobLocation, Id>>& blobs,
                             const std::unordered_map<Id, std::vector<Target>, IdHash>& targets,
                             size_t first_file) {
  std::sort(blobs.begin(), blobs.end(), [](const auto& a, const auto& b) {
    return a.first.offset < b.first.offset;
  });
  OpenFiles files;  // a pack's blobs mostly continue the same few files: keep them open
  size_t i = 0;
  while (i < blobs.size()) {
    // One read covers a run of adjacent blobs.
    size_t j = i + 1;
    uint64_t start = blobs[i].first.offset, end = start + blobs[i].first.length;
    while (j < blobs.size() && blobs[j].first.offset == end &&
           end + blobs[j].first.length - start <= kMaxRead) {
      end += blobs[j].first.length;
      ++j;
    }
    ASSIGN_OR_RETURN(Bytes region, repo_.backend().Read({FileType::kPack, pack.Hex()}, start,
                                                        end - start));
    for (size_t k = i; k < j; ++k) {
      const BlobLocation& loc = blobs[k].first;
      const Id& id = blobs[k].second;
      ByteSpan sealed(region.data() + (loc.offset - start), loc.length);
      ASSIGN_OR_RETURN(Bytes plain,
                       DecodeBlob(repo_.keys(), BlobType::kData, id, loc.flags, loc.raw_length, sealed));
      for (const Target& t : targets.at(id)) {
        const PlannedFile& f = files_[first_file + t.file];
        ASSIGN_OR_RETURN(int fd, files.Get(t.file, f.path));
        size_t done = 0;
        while (done < plain.size()) {
          ssize_t n = pwrite(fd, plain.data() + done, plain.size() - done,
                             static_cast<off_t>(t.offset + done));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return Status::FromErrno(errno, "writing " + f.path);
          done += static_cast<size_t>(n);
        }
        if (progress_) progress_->bytes += plain.size();
      }
    }
    i = j;
  }
  return Status::OK();
}

Status Restorer::RestoreContents(size_t begin, size_t end) {
  // Which blobs go where.
  std::unordered_map<Id, std::vector<Target>, IdHash> targets;
  for (size_t f = begin; f < end; ++f) {
    uint64_t offset = 0;
    for (const ContentRun& r : files_[f].node.content) {
      if (!r.hole) targets[r.blob].push_back({static_cast<uint32_t>(f - begin), offset});
      offset += r.length;
    }
  }
  // Where each blob is, grouped by pack.
  std::map<Id, std::vector<std::pair<BlobLocation, Id>>> by_pack;
  for (const auto& [id, t] : targets) {
    ASSIGN_OR_RETURN(auto loc, store_.Find(id));
    if (!loc) {
      return Status::Corruption("data blob " + id.ShortHex() +
                                " is not in the index: the repository is damaged (run 'repo check')");
    }
    by_pack[loc->pack].emplace_back(*loc, id);
  }
  std::vector<std::pair<Id, std::vector<std::pair<BlobLocation, Id>>>> packs(by_pack.begin(),
                                                                              by_pack.end());
  by_pack.clear();
  std::atomic<size_t> next{0};
  Status failed;
  std::mutex fail_mu;
  auto worker = [&] {
    for (size_t p; (p = next.fetch_add(1)) < packs.size();) {
      {
        std::lock_guard<std::mutex> lock(fail_mu);
        if (!failed.ok()) return;
      }
      Status s = RestorePack(packs[p].first, packs[p].second, targets, begin);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(fail_mu);
        if (failed.ok()) failed = s;
        return;
      }
    }
  };
  int n = opts_.threads > 0 ? opts_.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  summary_.packs_read += packs.size();
  return failed;
}

Status Restorer::Verify(const PlannedFile& f) {
  ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(f.path));
  int fd = openat(at.dir, at.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::FromErrno(errno, "verifying " + f.path);
  struct stat st;
  fstat(fd, &st);
  Status result;
  if (static_cast<uint64_t>(st.st_size) != f.node.size) {
    result = Status::Corruption(f.path + ": size " + std::to_string(st.st_size) + ", snapshot has " +
                                std::to_string(f.node.size));
  }
  uint64_t offset = 0;
  Bytes buf;
  for (const ContentRun& r : f.node.content) {
    if (!result.ok()) break;
    buf.resize(r.length);
    ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(buf.size())) {
      result = Status::Corruption(f.path + ": short read at offset " + std::to_string(offset));
    } else if (r.hole ? std::any_of(buf.begin(), buf.end(), [](uint8_t b) { return b != 0; })
                      : ComputeBlobId(repo_.keys(), BlobType::kData, buf) != r.blob) {
      result = Status::Corruption(f.path + ": content differs from the snapshot at offset " +
                                  std::to_string(offset));
    }
    offset += r.length;
  }
  close(fd);
  return result;
}

Result<RestoreSummary> Restorer::Run(const Snapshot& snapshot) {
  RETURN_IF_ERROR(Plan(snapshot));
  if (!opts_.target.empty()) RETURN_IF_ERROR(MakeDirectories(opts_.target));
  RETURN_IF_ERROR(CheckConflicts());
  RETURN_IF_ERROR(CreateSkeleton());
  size_t runs = 0, begin = 0;
  for (size_t f = 0; f < files_.size(); ++f) {
    runs += files_[f].node.content.size();
    if (runs >= kRunsPerBatch || f + 1 == files_.size()) {
      RETURN_IF_ERROR(RestoreContents(begin, f + 1));
      begin = f + 1;
      runs = 0;
    }
  }
  // One failure to reach a file is a warning like any other metadata failure.
  auto apply = [this](const std::string& path, const Node& n) {
    auto at = resolver_.Resolve(path);
    Status s = at.ok() ? ApplyMetadata(*at, path, n, as_root_) : at.status();
    if (!s.ok()) Warn(s.message());
  };
  for (const PlannedFile& f : files_) {
    apply(f.path, f.node);
    ++summary_.files;
    summary_.bytes += f.node.size;
    if (progress_) progress_->files++;
  }
  for (const auto& [path, n] : others_) {
    struct stat st;
    if (!Lstat(path, &st)) continue;  // skipped above (socket, device)
    apply(path, n);
  }
  // Directories last, deepest first: creating their contents changed their times.
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) apply(it->first, it->second);
  if (opts_.verify) {
    for (const PlannedFile& f : files_) {
      RETURN_IF_ERROR(Verify(f));
      ++summary_.verified_files;
    }
  }
  return summary_;
}

}  // namespace

bool RestoreSelects(const RestoreOptions& options, const std::string& path, bool is_dir) {
  bool descend_only;
  return RestoreSelectsImpl(options, path, is_dir, &descend_only);
}

Result<RestoreSummary> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                       const RestoreOptions& options, RestoreProgress* progress,
                                       const RestoreWarning& warn) {
  if (options.target.empty()) return Status::InvalidArgument("no restore target given (--target)");
  RestoreOptions opts = options;
  opts.target = std::filesystem::absolute(opts.target).lexically_normal().string();
  while (opts.target.size() > 1 && opts.target.back() == '/') opts.target.pop_back();
  if (opts.target == "/") opts.target.clear();  // restoring to / : snapshot paths are absolute
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  Restorer r(repo, *store, opts, progress, warn);
  return r.Run(snapshot);
}

}  // namespace repo
