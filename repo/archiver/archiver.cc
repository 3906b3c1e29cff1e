#include "repo/archiver/archiver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "repo/model/fs_meta.h"
#include "repo/os/identity.h"
#include "repo/model/path_glob.h"
#include "repo/model/tree_io.h"

namespace repo {
namespace {

constexpr size_t kReadBlock = 4u << 20;
// Chunks a worker takes from the queue at once (eight AVX-512 lanes hash them four deep).
constexpr size_t kWorkerBatch = 32;
constexpr char kCacheDirTagSignature[] = "Signature: 8a477f597d28d172789f06886806bc55";
// A directory the walk lists; entries are then named relative to it (paths of any length).
constexpr int kWalkDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// A directory only passed through on the way to a target: needs search permission only.
constexpr int kPassDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// File descriptors kept free for what the snapshot opens besides the walk's directories (packs
// being written, the index cache, the backend), when the open-file limit is small.
constexpr uint64_t kReservedFds = 128;
// Directory levels the walk descends at most, whatever the fd limit: bounds its recursion, about
// 2 KiB of stack a level, well within the usual 8 MiB.
constexpr uint64_t kMaxWalkDepth = 2048;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// Absolute, with "." and ".." and repeated '/' resolved lexically (symlinks are not followed,
// like tar and restic: a path that is a symlink is stored as the symlink).
std::string AbsolutePath(const std::string& p) {
  std::filesystem::path abs = std::filesystem::absolute(p).lexically_normal();
  std::string s = abs.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::vector<std::string> Components(const std::string& abs) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos < abs.size()) {
    size_t next = abs.find('/', pos);
    if (next == std::string::npos) next = abs.size();
    out.push_back(abs.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

// Directories the walk may hold open at once (one per level), and why it is not more: the
// open-file limit (raised to the hard limit), less a reserve, halved for the totals scan that
// may run beside the walk; or kMaxWalkDepth.
struct WalkDepth {
  uint64_t levels;
  bool by_fd_limit;
};

WalkDepth WalkDepthLimit() {
  const uint64_t limit = RaiseOpenFileLimit();
  const uint64_t fds = (limit - std::min(limit / 2, kReservedFds)) / 2;
  return fds < kMaxWalkDepth ? WalkDepth{fds, true} : WalkDepth{kMaxWalkDepth, false};
}

// A listing of the directory `dirfd` (which stays open and unmoved); null with errno set if it
// cannot be read.
DIR* ListDir(int dirfd) {
  int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  DIR* d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    errno = err;
  }
  return d;
}

bool IsCacheDir(int dirfd) {
  int fd = openat(dirfd, "CACHEDIR.TAG", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[sizeof kCacheDirTagSignature - 1];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n == static_cast<ssize_t>(sizeof buf) && std::memcmp(buf, kCacheDirTagSignature, n) == 0;
}

using NodeMap = std::map<std::string, Node>;

// A directory whose tree is not stored yet: it completes when its walk has finished and every
// child has resolved (pending reaches 0).
struct DirState {
  Node node;  // its own metadata; subtree filled on completion
  std::vector<std::optional<Node>> children;
  std::atomic<int64_t> pending{1};
  std::shared_ptr<DirState> parent;  // null for the root
  size_t slot = 0;
  std::optional<std::vector<Id>> previous_subtree;  // in the parent snapshot
};

// A file being read: completes when the read has finished and every chunk is stored.
struct FileState {
  Node node;
  std::deque<ContentRun> runs;  // deque: appending never moves runs the workers write to
  std::atomic<int64_t> pending{1};
  std::shared_ptr<DirState> dir;
  size_t slot = 0;
  bool drop = false;  // reading failed: leave the file out of the snapshot
  // The link of a multiply-linked inode that later links follow (Archiver::links_): on
  // completion its content goes to them.
  bool first_link = false;
};

// A later link of a multiply-linked inode, waiting for the first link's content.
struct LinkFollower {
  Node node;  // its own name; the inode's metadata
  std::shared_ptr<DirState> dir;
  size_t slot = 0;
};

// A regular file with more than one link, met during the walk: its links are read once. The
// first link met is read; a later one whose size, mtime and ctime equal the first's stat takes
// the first's content, at once if it is stored, else when it completes. Forgotten when the walk
// has met as many links as the first's st_nlink.
struct LinkedInode {
  enum class State {
    kReading,  // the first link is being read or its chunks stored: later links wait
    kDone,     // `content` is the first link's
    kUnread,   // the first link was dropped or changed while read: the next link is read
  };
  State state = State::kReading;
  uint64_t size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;   // the first link's stat, before it was read
  uint64_t links_left = 0;              // links the walk has not met yet
  std::vector<ContentRun> content;      // kDone
  std::vector<LinkFollower> followers;  // kReading
};

// (st_dev, st_ino)
using InodeKey = std::pair<uint64_t, uint64_t>;
InodeKey KeyOf(const Node& node) { return {node.device, node.inode}; }

struct ChunkJob {
  std::shared_ptr<FileState> file;
  ContentRun* run;
  Bytes data;
};

class Archiver {
 public:
  Archiver(Repository& repo, BlobStore& store, const SnapshotOptions& opts,
           ArchiverProgress* progress, const WarningSink& warn)
      : repo_(repo), store_(store), opts_(opts), progress_(progress), warn_(warn) {}

  // `parent_tree`: the root tree of the parent snapshot, if there is one.
  Result<std::vector<Id>> Run(const std::optional<std::vector<Id>>& parent_tree);

  SnapshotSummary summary() {
    std::lock_guard<std::mutex> lock(mu_);
    return summary_;
  }

 private:
  // Walk (calling thread).
  void WalkTargets(const std::shared_ptr<DirState>& root,
                   const std::optional<std::vector<Id>>& parent_tree);
  // Entries are named relative to the open directory `dirfd` (`name`, or `at`) and by their
  // full `path` for messages, excludes and the snapshot. The walk holds one directory fd per
  // level (open_dirs_), at most depth_.levels.
  void WalkEntry(int dirfd, const std::string& path, const std::string& name,
                 const std::shared_ptr<DirState>& dir, size_t slot, const Node* previous,
                 dev_t root_dev);
  // `fd`: the directory at `path`, open with kWalkDirFlags; the caller closes it.
  void WalkDir(int fd, const std::string& path, const std::shared_ptr<DirState>& dir,
               const Node* previous, dev_t root_dev);
  void ReadFile(AtPath at, const std::string& path, Node node,
                const std::shared_ptr<DirState>& dir, size_t slot, const Node* previous);
  // Hardlinks (walker). For a link of a multiply-linked file that is not unchanged since the
  // parent: true if it takes the content of a link met before (it is then resolved, at once or
  // when that link completes, and counted); false if the caller reads it, with `*first` set if
  // later links are to follow it (then LeaveLink or, on completion, ShareLinkContent).
  bool FollowLink(Node& node, const std::shared_ptr<DirState>& dir, size_t slot, bool had_previous,
                  bool* first);
  // A link unchanged since the parent: later links may take its content.
  void NoteReusedLink(const Node& node);
  // The first link of `key` will not give content (dropped, or changed while read).
  void LeaveLink(InodeKey key);
  // Opens the directory `name` in `dirfd` with `flags` for the walk, or warns (naming `path`)
  // and returns -1: it cannot be opened, or the walk holds as many directories as it may.
  int OpenWalkDir(int dirfd, const std::string& name, const std::string& path, int flags);
  void CloseWalkDir(int fd);
  // Reads `fd` from `offset` to `end` (or EOF when end is UINT64_MAX), chunking into `file`.
  // A `stream` (pipe, stdin) is read with read(2) from where it is.
  Status ReadRegion(int fd, uint64_t offset, uint64_t end, const std::string& path,
                    const std::shared_ptr<FileState>& file, uint64_t* read_bytes,
                    bool stream = false);
  void Enqueue(ChunkJob job);

  // Completion (any thread).
  void Resolve(const std::shared_ptr<DirState>& dir, size_t slot, std::optional<Node> node);
  void CompleteFile(const std::shared_ptr<FileState>& file);
  // `first`, complete, gives its content to the links that wait for it.
  void ShareLinkContent(const Node& first);
  void CompleteDir(const std::shared_ptr<DirState>& dir);
  void Worker();
  // Stores a batch of chunks (ids hashed together) and completes the files they finish. The
  // vectors are the worker's, reused from batch to batch.
  void PutBatch(std::vector<ChunkJob>& batch, std::vector<ByteSpan>& data,
                std::vector<PutResult>& puts);
  void Fail(const Status& s);
  bool failed() {
    std::lock_guard<std::mutex> lock(mu_);
    return !error_.ok();
  }
  void Warn(const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.errors;
    }
    if (progress_) progress_->errors++;
    if (warn_) warn_(message);
  }
  std::optional<NodeMap> LoadPrevious(const Node* previous, const std::string& path);

  Repository& repo_;
  BlobStore& store_;
  const SnapshotOptions& opts_;
  ArchiverProgress* progress_;
  const WarningSink& warn_;

  std::mutex mu_;
  Status error_;
  SnapshotSummary summary_;
  std::optional<std::vector<Id>> root_tree_;

  // Multiply-linked inodes whose links the walk has not all met. Never held with mu_.
  std::mutex links_mu_;
  std::map<InodeKey, LinkedInode> links_;

  std::unique_ptr<uint8_t[]> read_buf_{new uint8_t[kReadBlock]};  // walker thread only
  WalkDepth depth_{0, false};  // walker thread only, like open_dirs_
  uint64_t open_dirs_ = 0;

  // The chunk queue. Waiters are counted so that a push or pop signals only when someone waits:
  // at most one futex wake per hand-off, none while both sides keep up.
  std::mutex queue_mu_;
  std::condition_variable work_cv_;   // workers wait for a job (or the close)
  std::condition_variable space_cv_;  // the walker waits for the queue to drain to half
  int idle_workers_ = 0;
  bool walker_waiting_ = false;
  std::deque<ChunkJob> queue_;
  size_t queue_bytes_ = 0;
  bool closed_ = false;
};

void Archiver::Fail(const Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = s;
}

// Bytes a job counts against the queue bound: its data plus what a job costs besides, so that
// many tiny chunks (small files) are bounded too.
size_t JobCost(const ChunkJob& job) { return job.data.size() + 256; }

void Archiver::Enqueue(ChunkJob job) {
  std::unique_lock<std::mutex> lock(queue_mu_);
  if (queue_bytes_ >= opts_.queue_bytes) {
    // Full: wait until the workers have drained half, so the walker wakes once per half queue
    // rather than once per chunk.
    walker_waiting_ = true;
    space_cv_.wait(lock, [&] { return queue_bytes_ <= opts_.queue_bytes / 2; });
    walker_waiting_ = false;
  }
  queue_bytes_ += JobCost(job);
  queue_.push_back(std::move(job));
  if (idle_workers_ > 0) work_cv_.notify_one();
}

void Archiver::Worker() {
  std::vector<ChunkJob> batch;
  std::vector<ByteSpan> data;
  std::vector<PutResult> puts;
  for (;;) {
    batch.clear();
    size_t cost = 0;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      if (queue_.empty() && !closed_) {
        ++idle_workers_;
        work_cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        --idle_workers_;
      }
      if (queue_.empty()) return;
      // A batch, so that its ids are hashed several at a time; at most half of what waits, so
      // that other workers find their share.
      const size_t take = std::clamp<size_t>(queue_.size() / 2, 1, kWorkerBatch);
      for (size_t i = 0; i < take; ++i) {
        cost += JobCost(queue_.front());
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!failed()) PutBatch(batch, data, puts);
    batch.clear();  // frees the chunks before their bytes leave the count
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_bytes_ -= cost;
    if (walker_waiting_ && queue_bytes_ <= opts_.queue_bytes / 2) space_cv_.notify_one();
  }
}

void Archiver::PutBatch(std::vector<ChunkJob>& batch, std::vector<ByteSpan>& data,
                        std::vector<PutResult>& puts) {
  data.clear();
  for (const ChunkJob& job : batch) data.push_back(job.data);
  puts.resize(batch.size());
  if (Status s = store_.PutMany(BlobType::kData, data, puts); !s.ok()) return Fail(s);
  uint64_t added = 0, stored = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    ChunkJob& job = batch[i];
    *job.run = ContentRun{puts[i].id, job.data.size(), false};
    if (puts[i].stored) {
      ++stored;
      added += puts[i].stored_bytes;
    }
    if (job.file->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteFile(job.file);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_.data_blobs += stored;
    summary_.bytes_added += added;
  }
  if (progress_) progress_->bytes_added += added;
}

void Archiver::CompleteFile(const std::shared_ptr<FileState>& file) {
  if (progress_) progress_->files++;
  if (file->drop) {
    Resolve(file->dir, file->slot, std::nullopt);
    return;
  }
  file->node.content.assign(file->runs.begin(), file->runs.end());
  if (file->first_link) ShareLinkContent(file->node);
  Resolve(file->dir, file->slot, std::move(file->node));
}

void Archiver::ShareLinkContent(const Node& first) {
  std::vector<LinkFollower> followers;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    auto it = links_.find(KeyOf(first));  // present: nothing forgets a link being read
    followers = std::move(it->second.followers);
    if (it->second.links_left == 0) {
      links_.erase(it);
    } else {
      it->second.state = LinkedInode::State::kDone;
      it->second.content = first.content;
    }
  }
  for (LinkFollower& f : followers) {
    f.node.content = first.content;
    if (progress_) {
      progress_->files++;
      progress_->bytes += f.node.size;
    }
    Resolve(f.dir, f.slot, std::move(f.node));
  }
}

bool Archiver::FollowLink(Node& node, const std::shared_ptr<DirState>& dir, size_t slot,
                          bool had_previous, bool* first) {
  using State = LinkedInode::State;
  std::unique_lock<std::mutex> lock(links_mu_);
  auto [it, inserted] = links_.try_emplace(KeyOf(node));
  LinkedInode& l = it->second;
  if (inserted) l.links_left = node.nlink;
  if (l.links_left > 0) --l.links_left;
  if (inserted || l.state == State::kUnread) {
    l.state = State::kReading;
    l.size = node.size;
    l.mtime_ns = node.mtime_ns;
    l.ctime_ns = node.ctime_ns;
    l.content.clear();
    *first = true;
    return false;
  }
  if (l.size != node.size || l.mtime_ns != node.mtime_ns || l.ctime_ns != node.ctime_ns) {
    // Changed since the first link was met: read this one on its own.
    if (l.links_left == 0 && l.state == State::kDone) links_.erase(it);
    return false;
  }
  const uint64_t size = node.size;
  const bool waits = l.state == State::kReading;
  if (waits) {
    l.followers.push_back(LinkFollower{std::move(node), dir, slot});
  } else {
    node.content = l.content;
    if (l.links_left == 0) links_.erase(it);
  }
  lock.unlock();
  // Counted now, like a file read: the first link's content is certain to come (a first link
  // that fails is made kUnread before the walk goes on).
  {
    std::lock_guard<std::mutex> summary_lock(mu_);
    ++(had_previous ? summary_.files_changed : summary_.files_new);
    summary_.bytes_processed += size;
  }
  if (!waits) {
    if (progress_) {
      progress_->files++;
      progress_->bytes += size;
    }
    Resolve(dir, slot, std::move(node));
  }
  return true;
}

void Archiver::NoteReusedLink(const Node& node) {
  std::lock_guard<std::mutex> lock(links_mu_);
  auto [it, inserted] = links_.try_emplace(KeyOf(node));
  LinkedInode& l = it->second;
  if (inserted) l.links_left = node.nlink;
  if (inserted || l.state == LinkedInode::State::kUnread) {
    l.state = LinkedInode::State::kDone;
    l.size = node.size;
    l.mtime_ns = node.mtime_ns;
    l.ctime_ns = node.ctime_ns;
    l.content = node.content;
  }
  if (l.links_left > 0) --l.links_left;
  if (l.links_left == 0 && l.state != LinkedInode::State::kReading) links_.erase(it);
}

void Archiver::LeaveLink(InodeKey key) {
  std::lock_guard<std::mutex> lock(links_mu_);
  auto it = links_.find(key);
  it->second.state = LinkedInode::State::kUnread;  // no followers: the walk is still on the first
  if (it->second.links_left == 0) links_.erase(it);
}

void Archiver::Resolve(const std::shared_ptr<DirState>& dir, size_t slot,
                       std::optional<Node> node) {
  dir->children[slot] = std::move(node);
  if (dir->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteDir(dir);
}

void Archiver::CompleteDir(const std::shared_ptr<DirState>& dir) {
  if (failed()) return;
  std::vector<Node> nodes;
  nodes.reserve(dir->children.size());
  for (auto& c : dir->children) {
    if (c) nodes.push_back(std::move(*c));
  }
  dir->children.clear();
  auto stored = StoreTree(store_, repo_.config().chunker, repo_.gear_table(), nodes);
  if (!stored.ok()) {
    Fail(stored.status().WithContext("storing tree of " + dir->node.name));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_.tree_blobs += stored->blobs_added;
    summary_.bytes_added += stored->bytes_added;
    if (dir->parent) {  // the root is not a directory of its own
      if (!dir->previous_subtree) {
        ++summary_.dirs_new;
      } else if (*dir->previous_subtree == stored->blobs) {
        ++summary_.dirs_unchanged;
      } else {
        ++summary_.dirs_changed;
      }
    }
  }
  if (progress_) progress_->bytes_added += stored->bytes_added;
  if (!dir->parent) {
    std::lock_guard<std::mutex> lock(mu_);
    root_tree_ = std::move(stored->blobs);
    return;
  }
  if (progress_) progress_->dirs++;
  dir->node.subtree = std::move(stored->blobs);
  Resolve(dir->parent, dir->slot, std::move(dir->node));
}

std::optional<NodeMap> Archiver::LoadPrevious(const Node* previous, const std::string& path) {
  if (!previous || previous->type != NodeType::kDir) return std::nullopt;
  auto nodes = LoadTree(store_, previous->subtree, "parent snapshot tree of " + path);
  if (!nodes.ok()) {
    // A damaged parent only costs re-reading: warn and carry on without it.
    if (warn_) warn_(nodes.status().message() + " (reading files again)");
    return std::nullopt;
  }
  NodeMap map;
  for (Node& n : *nodes) map.emplace(n.name, std::move(n));
  return map;
}

Status Archiver::ReadRegion(int fd, uint64_t offset, uint64_t end, const std::string& path,
                            const std::shared_ptr<FileState>& file, uint64_t* read_bytes,
                            bool stream) {
  FastCdc chunker(repo_.config().chunker, repo_.gear_table());
  uint8_t* const buf = read_buf_.get();  // the walker's one read buffer, never re-zeroed
  Bytes current;  // the start of a chunk that straddles two reads
  auto emit = [&](Bytes chunk) {
    file->runs.push_back(ContentRun{});
    file->pending.fetch_add(1, std::memory_order_relaxed);
    Enqueue(ChunkJob{file, &file->runs.back(), std::move(chunk)});
  };
  while (offset < end) {
    if (failed()) return Status::Aborted("snapshot failed");
    size_t want = static_cast<size_t>(std::min<uint64_t>(kReadBlock, end - offset));
    ssize_t n = stream ? read(fd, buf, want) : pread(fd, buf, want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "reading " + path);
    if (n == 0) break;  // EOF (the file shrank, or end was "to EOF")
    offset += static_cast<uint64_t>(n);
    *read_bytes += static_cast<uint64_t>(n);
    if (progress_) progress_->bytes += static_cast<uint64_t>(n);
    ByteSpan rest(buf, static_cast<size_t>(n));
    while (!rest.empty()) {
      size_t cut = chunker.Next(rest);
      if (!cut) {  // the chunk goes on in the next read
        current.insert(current.end(), rest.begin(), rest.end());
        break;
      }
      if (current.empty()) {
        emit(Bytes(rest.begin(), rest.begin() + cut));  // one exact-size copy out of the buffer
      } else {
        current.insert(current.end(), rest.begin(), rest.begin() + cut);
        current.shrink_to_fit();  // a queued job holds no more than its chunk
        emit(std::exchange(current, Bytes()));
      }
      rest = rest.subspan(cut);
    }
  }
  if (!current.empty()) emit(std::move(current));
  return Status::OK();
}

void Archiver::ReadFile(AtPath at, const std::string& path, Node node,
                        const std::shared_ptr<DirState>& dir, size_t slot, const Node* previous) {
  const bool had_previous = previous && previous->type == NodeType::kFile;
  if (had_previous && !opts_.force && previous->size == node.size &&
      previous->mtime_ns == node.mtime_ns && previous->ctime_ns == node.ctime_ns &&
      previous->inode == node.inode) {
    node.content = previous->content;
    if (node.nlink > 1) NoteReusedLink(node);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.files_unchanged;
      summary_.bytes_processed += node.size;
    }
    if (progress_) {
      progress_->files++;
      progress_->bytes += node.size;
    }
    Resolve(dir, slot, std::move(node));
    return;
  }
  bool first_link = false;
  if (node.nlink > 1 && FollowLink(node, dir, slot, had_previous, &first_link)) return;
  const InodeKey key = KeyOf(node);
  int fd = openat(at.dir, at.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = openat(at.dir, at.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    Warn(Status::FromErrno(errno, "cannot read " + path).message());
    if (first_link) LeaveLink(key);
    Resolve(dir, slot, std::nullopt);
    return;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  struct stat before;
  fstat(fd, &before);
  auto file = std::make_shared<FileState>();
  file->node = std::move(node);
  file->dir = dir;
  file->slot = slot;
  uint64_t read_bytes = 0, hole_bytes = 0;  // holes counted here: the workers write data runs
  Status s;
  // Sparse files (fewer blocks than their size): store only the data regions, holes as runs.
  const bool sparse = static_cast<uint64_t>(before.st_blocks) * 512 <
                      static_cast<uint64_t>(before.st_size);
  if (sparse) {
    uint64_t pos = 0, size = static_cast<uint64_t>(before.st_size);
    while (s.ok() && pos < size) {
      off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
      uint64_t data_at = data < 0 ? size : static_cast<uint64_t>(data);
      if (data_at > pos) {
        file->runs.push_back(ContentRun{Id(), data_at - pos, true});
        hole_bytes += data_at - pos;
        pos = data_at;
      }
      if (pos >= size) break;
      off_t hole = lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
      uint64_t hole_at = hole < 0 ? size : static_cast<uint64_t>(hole);
      s = ReadRegion(fd, pos, hole_at, path, file, &read_bytes);
      pos = hole_at;
    }
  } else {
    s = ReadRegion(fd, 0, UINT64_MAX, path, file, &read_bytes);
  }
  struct stat after;
  fstat(fd, &after);
  close(fd);
  if (!s.ok()) {
    if (s.code() != StatusCode::kAborted) Warn(s.message());
    file->drop = true;  // chunks already queued still complete; then the file is left out
  } else if (after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
             after.st_mtim.tv_nsec != before.st_mtim.tv_nsec || after.st_size != before.st_size) {
    Warn("file " + path + " changed while it was read; the snapshot has what was read");
  }
  const uint64_t stat_size = file->node.size;
  file->node.size = read_bytes + hole_bytes;
  if (first_link) {
    // Later links follow only content that matches the stat they are compared with.
    const bool same = s.ok() && file->node.size == stat_size &&
                      static_cast<uint64_t>(after.st_size) == stat_size &&
                      TimespecNs(after.st_mtim) == file->node.mtime_ns &&
                      TimespecNs(after.st_ctim) == file->node.ctime_ns;
    if (same) {
      file->first_link = true;
    } else {
      LeaveLink(key);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_.bytes_read += read_bytes;
    if (!file->drop) {
      ++(had_previous ? summary_.files_changed : summary_.files_new);
      summary_.bytes_processed += file->node.size;
    }
  }
  if (file->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteFile(file);
}

int Archiver::OpenWalkDir(int dirfd, const std::string& name, const std::string& path,
                          int flags) {
  if (open_dirs_ >= depth_.levels) {
    Warn("cannot read directory " + path + ": nested more than " +
         std::to_string(depth_.levels) + " directories deep" +
         (depth_.by_fd_limit ? ", more than the open-file limit allows (raise ulimit -n)" : ""));
    return -1;
  }
  int fd = openat(dirfd, name.c_str(), flags);
  if (fd < 0) {
    Warn(Status::FromErrno(errno, "cannot read directory " + path).message());
    return -1;
  }
  ++open_dirs_;
  return fd;
}

void Archiver::CloseWalkDir(int fd) {
  close(fd);
  --open_dirs_;
}

void Archiver::WalkEntry(int dirfd, const std::string& path, const std::string& name,
                         const std::shared_ptr<DirState>& dir, size_t slot, const Node* previous,
                         dev_t root_dev) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    Warn(Status::FromErrno(errno, "cannot stat " + path).message());
    Resolve(dir, slot, std::nullopt);
    return;
  }
  if (S_ISREG(st.st_mode) && opts_.excludes.exclude_larger_than > 0 &&
      static_cast<uint64_t>(st.st_size) > opts_.excludes.exclude_larger_than) {
    Resolve(dir, slot, std::nullopt);
    return;
  }
  const AtPath at{dirfd, name.c_str()};
  auto node = NodeFromStat(at, path, name, st);
  if (!node.ok()) {
    Warn(node.status().message());
    Resolve(dir, slot, std::nullopt);
    return;
  }
  if (node->type == NodeType::kFile) {
    ReadFile(at, path, std::move(node).value(), dir, slot, previous);
    return;
  }
  if (node->type != NodeType::kDir) {
    Resolve(dir, slot, std::move(node).value());
    return;
  }
  auto child = std::make_shared<DirState>();
  child->node = std::move(node).value();
  child->parent = dir;
  child->slot = slot;
  if (previous && previous->type == NodeType::kDir) child->previous_subtree = previous->subtree;
  const bool other_fs = opts_.excludes.one_file_system && st.st_dev != root_dev;
  int fd = other_fs ? -1 : OpenWalkDir(dirfd, name, path, kWalkDirFlags);
  if (fd >= 0) {  // else stored as an empty directory
    if (!(opts_.excludes.exclude_caches && IsCacheDir(fd))) {
      WalkDir(fd, path, child, previous, root_dev);
    }
    CloseWalkDir(fd);
  }
  if (child->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteDir(child);
}

void Archiver::WalkDir(int fd, const std::string& path, const std::shared_ptr<DirState>& dir,
                       const Node* previous, dev_t root_dev) {
  DIR* d = ListDir(fd);
  if (!d) {
    Warn(Status::FromErrno(errno, "cannot read directory " + path).message());
    return;  // stored as an empty directory
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (IsExcluded(opts_.excludes, JoinPath(path, n), n)) continue;
    names.push_back(std::move(n));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::optional<NodeMap> prev = LoadPrevious(previous, path);
  dir->children.resize(names.size());
  dir->pending.fetch_add(static_cast<int64_t>(names.size()), std::memory_order_relaxed);
  for (size_t i = 0; i < names.size(); ++i) {
    if (failed()) {
      Resolve(dir, i, std::nullopt);
      continue;
    }
    const Node* p = nullptr;
    if (prev) {
      auto it = prev->find(names[i]);
      if (it != prev->end()) p = &it->second;
    }
    WalkEntry(fd, JoinPath(path, names[i]), names[i], dir, i, p, root_dev);
  }
}

// The given paths as a tree of names: intermediate directories hold only what leads to a target.
struct PathTrie {
  std::map<std::string, PathTrie> children;
  bool target = false;
};

void Archiver::WalkTargets(const std::shared_ptr<DirState>& root,
                           const std::optional<std::vector<Id>>& parent_tree) {
  depth_ = WalkDepthLimit();
  PathTrie trie;
  for (const std::string& p : opts_.paths) {
    PathTrie* t = &trie;
    for (const std::string& c : Components(p)) t = &t->children[c];
    t->target = true;
    t->children.clear();  // a target covers everything below it
  }
  Node previous_root;  // the parent snapshot's root, as a directory node
  previous_root.type = NodeType::kDir;
  if (parent_tree) previous_root.subtree = *parent_tree;
  const Node* prev = parent_tree ? &previous_root : nullptr;
  // The targets are reached from "/" one component at a time, so they may be of any length.
  const int root_fd = open("/", trie.target ? kWalkDirFlags : kPassDirFlags);
  if (root_fd < 0) {
    Warn(Status::FromErrno(errno, "cannot read directory /").message());
    return;
  }
  ++open_dirs_;
  if (trie.target) {  // backing up "/": the root is the filesystem's root directory
    struct stat st;
    WalkDir(root_fd, "/", root, prev, fstat(root_fd, &st) == 0 ? st.st_dev : 0);
    CloseWalkDir(root_fd);
    return;
  }
  // Depth-first over the trie; `dir` (open as `dirfd`) holds `t`'s children.
  std::function<void(const PathTrie&, int, const std::string&, const std::shared_ptr<DirState>&,
                     const std::optional<NodeMap>&)>
      walk = [&](const PathTrie& t, int dirfd, const std::string& path,
                 const std::shared_ptr<DirState>& dir, const std::optional<NodeMap>& prev) {
        dir->children.resize(t.children.size());
        dir->pending.fetch_add(static_cast<int64_t>(t.children.size()));
        size_t slot = 0;
        for (const auto& [name, sub] : t.children) {
          const std::string child_path = JoinPath(path, name);
          const Node* p = nullptr;
          if (prev) {
            auto it = prev->find(name);
            if (it != prev->end()) p = &it->second;
          }
          struct stat st;
          const bool found = fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
          if (sub.target) {
            WalkEntry(dirfd, child_path, name, dir, slot, p, found ? st.st_dev : 0);
          } else if (!found || !S_ISDIR(st.st_mode)) {
            Warn("cannot read " + child_path + ": not a directory");
            Resolve(dir, slot, std::nullopt);
          } else {
            auto node = NodeFromStat(AtPath{dirfd, name.c_str()}, child_path, name, st);
            if (!node.ok()) {
              Warn(node.status().message());
              Resolve(dir, slot, std::nullopt);
            } else {
              auto child = std::make_shared<DirState>();
              child->node = std::move(node).value();
              child->parent = dir;
              child->slot = slot;
              if (p && p->type == NodeType::kDir) child->previous_subtree = p->subtree;
              int fd = OpenWalkDir(dirfd, name, child_path, kPassDirFlags);
              if (fd >= 0) {  // else stored as an empty directory
                walk(sub, fd, child_path, child, LoadPrevious(p, child_path));
                CloseWalkDir(fd);
              }
              if (child->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                CompleteDir(child);
              }
            }
          }
          ++slot;
        }
      };
  walk(trie, root_fd, "/", root, LoadPrevious(prev, "/"));
  CloseWalkDir(root_fd);
}

Result<std::vector<Id>> Archiver::Run(const std::optional<std::vector<Id>>& parent_tree) {
  int n = opts_.threads > 0 ? opts_.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::thread> workers;
  for (int i = 0; i < n; ++i) workers.emplace_back([this] { Worker(); });

  auto root = std::make_shared<DirState>();
  if (opts_.stdin_fd >= 0) {
    Node node;
    node.type = NodeType::kFile;
    node.name = opts_.stdin_filename;
    node.mode = 0644;
    node.uid = getuid();
    node.gid = getgid();
    node.user = UserName(node.uid);
    node.group = GroupName(node.gid);
    node.mtime_ns = node.ctime_ns = NowNs();
    root->children.resize(1);
    root->pending.fetch_add(1);
    auto file = std::make_shared<FileState>();
    file->node = std::move(node);
    file->dir = root;
    uint64_t read_bytes = 0;
    Status s = ReadRegion(opts_.stdin_fd, 0, UINT64_MAX, opts_.stdin_filename, file, &read_bytes,
                          /*stream=*/true);
    if (!s.ok() && s.code() != StatusCode::kAborted) Fail(s.WithContext("reading stdin"));
    if (s.ok() && opts_.stream_finished) {
      Status done = opts_.stream_finished();
      if (!done.ok()) Fail(done);
    }
    file->node.size = read_bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.files_new;
      summary_.bytes_read += read_bytes;
      summary_.bytes_processed += read_bytes;
    }
    if (file->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteFile(file);
  } else {
    WalkTargets(root, parent_tree);
  }
  if (root->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteDir(root);

  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    closed_ = true;
    work_cv_.notify_all();
  }
  for (auto& t : workers) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(error_);
  if (!root_tree_) return Status::Aborted("snapshot did not complete");  // not reached
  return *root_tree_;
}

// Counts files and bytes under `at` (full path `path`) for progress totals, `levels` directories
// deep at most. Best effort: whatever cannot be read is not counted.
void ScanTotals(AtPath at, const std::string& path, const ExcludeRules& rules, dev_t root_dev,
                ArchiverProgress* progress, uint64_t levels) {
  struct stat st;
  if (fstatat(at.dir, at.name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISREG(st.st_mode)) {
    if (rules.exclude_larger_than && uint64_t(st.st_size) > rules.exclude_larger_than) return;
    progress->total_files++;
    progress->total_bytes += static_cast<uint64_t>(st.st_size);
    return;
  }
  if (!S_ISDIR(st.st_mode) || levels == 0) return;
  if (rules.one_file_system && st.st_dev != root_dev) return;
  int fd = openat(at.dir, at.name, kWalkDirFlags);
  if (fd < 0) return;
  DIR* d = rules.exclude_caches && IsCacheDir(fd) ? nullptr : ListDir(fd);
  if (!d) {
    close(fd);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && !IsExcluded(rules, JoinPath(path, n), n)) names.push_back(n);
  }
  closedir(d);
  for (const auto& n : names) {
    ScanTotals(AtPath{fd, n.c_str()}, JoinPath(path, n), rules, root_dev, progress, levels - 1);
  }
  close(fd);
}

}  // namespace

bool IsExcluded(const ExcludeRules& rules, const std::string& path, const std::string& name) {
  return AnyPathGlobMatches(rules.patterns, path);
}

Result<ArchiveResult> RunSnapshot(Repository& repo, const SnapshotOptions& in,
                                  ArchiverProgress* progress, const WarningSink& warn) {
  const auto started = std::chrono::steady_clock::now();
  SnapshotOptions opts = in;
  Snapshot snap;
  snap.time_ns = NowNs();
  snap.hostname = opts.hostname.empty() ? LocalHostname() : opts.hostname;
  snap.username = UserName(getuid());
  snap.tags = opts.tags;
  snap.program_version = REPO_VERSION;
  if (opts.stdin_fd >= 0) {
    if (opts.stdin_filename.empty() || opts.stdin_filename.find('/') != std::string::npos ||
        opts.stdin_filename == "." || opts.stdin_filename == "..") {
      return Status::InvalidArgument("--stdin-filename must be a plain file name, not '" +
                                     opts.stdin_filename + "'");
    }
    snap.paths = {opts.stdin_filename};
  } else {
    if (opts.paths.empty()) return Status::InvalidArgument("nothing to back up: give paths");
    PathResolver resolver;  // a path may be longer than PATH_MAX
    for (std::string& p : opts.paths) {
      p = AbsolutePath(p);
      struct stat st;
      auto at = resolver.Resolve(p);
      Status found = !at.ok() ? at.status()
                     : fstatat(at->dir, at->name, &st, AT_SYMLINK_NOFOLLOW) == 0
                         ? Status::OK()
                         : Status::FromErrno(errno, "path " + p);
      if (!found.ok()) {
        return found.code() == StatusCode::kNotFound
                   ? Status::InvalidArgument("path " + p + " does not exist")
                   : found;
      }
    }
    std::sort(opts.paths.begin(), opts.paths.end());
    opts.paths.erase(std::unique(opts.paths.begin(), opts.paths.end()), opts.paths.end());
    snap.paths = opts.paths;
  }
  std::sort(snap.tags.begin(), snap.tags.end());
  snap.tags.erase(std::unique(snap.tags.begin(), snap.tags.end()), snap.tags.end());

  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  // Parent: the newest snapshot of the same host and paths, unless given.
  std::optional<std::vector<Id>> parent_tree;
  if (opts.parent) {
    snap.parent = opts.parent;
  } else {
    ASSIGN_OR_RETURN(auto all, ListSnapshots(repo.metadata()));
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->snapshot.hostname == snap.hostname && it->snapshot.paths == snap.paths) {
        snap.parent = it->id;
        break;
      }
    }
  }
  if (snap.parent) {
    ASSIGN_OR_RETURN(Snapshot parent, ReadSnapshot(repo.metadata(), *snap.parent));
    parent_tree = std::move(parent.tree);
  }

  std::thread scanner;
  if (progress && progress->want_totals && opts.stdin_fd < 0) {
    scanner = std::thread([&] {
      const uint64_t levels = WalkDepthLimit().levels;
      PathResolver resolver;
      for (const std::string& p : opts.paths) {
        struct stat st;
        auto at = resolver.Resolve(p);
        if (at.ok() && fstatat(at->dir, at->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          ScanTotals(*at, p, opts.excludes, st.st_dev, progress, levels);
        }
      }
      progress->scan_done = true;
    });
  }
  Archiver archiver(repo, *store, opts, progress, warn);
  auto tree = archiver.Run(parent_tree);
  if (scanner.joinable()) scanner.join();
  RETURN_IF_ERROR(tree.status());
  // Everything the snapshot reaches must be durable and indexed before the snapshot exists.
  RETURN_IF_ERROR(store->Flush());
  snap.tree = std::move(tree).value();
  snap.summary = archiver.summary();
  snap.summary.duration_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count();
  ASSIGN_OR_RETURN(Id id, WriteSnapshot(repo.metadata(), snap));
  return ArchiveResult{id, std::move(snap)};
}

}  // namespace repo
