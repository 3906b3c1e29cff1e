#include "repo/archiver/archiver.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "repo/archiver/dir_listing.h"
#include "repo/archiver/file_reader.h"
#include "repo/archiver/hardlinks.h"
#include "repo/archiver/pipeline_state.h"
#include "repo/archiver/totals_scanner.h"
#include "repo/archiver/walk_dir.h"
#include "repo/model/fs_meta.h"
#include "repo/model/tree_io.h"
#include "repo/os/identity.h"
#include "repo/os/path_resolver.h"

namespace repo {
namespace {

// Chunks a worker takes from the queue at once (eight AVX-512 lanes hash them four deep).
constexpr size_t kWorkerBatch = 32;
// The walker hands a file's done runs to its content list once this many wait.
constexpr size_t kDrainEvery = 256;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The parent snapshot's listing of a directory, read alongside the walk of the directory, both
// in name order: a blob per level of it in memory, whatever the directory's size. A listing that
// cannot be read is warned about once; from there on its files are read again.
class PreviousListing {
 public:
  // `previous`: the directory in the parent snapshot (null, or not a directory: none).
  PreviousListing(BlobStore& store, const Node* previous, const std::string& path,
                  const WarningSink& warn)
      : warn_(warn) {
    if (previous && previous->type == NodeType::kDir) {
      reader_.emplace(store, previous->subtree, "parent snapshot tree of " + path);
    }
  }

  // The node named `name` in the listing, or null; valid until the next call.
  // REQUIRES: names increase from call to call.
  const Node* Find(const std::string& name) {
    while (reader_ && (!has_ || node_.name < name)) {
      auto more = reader_->Next(&node_);
      if (!more.ok()) {
        if (warn_) warn_(more.status().message() + " (reading files again)");
        reader_.reset();
      } else if (!*more) {
        reader_.reset();
      }
      has_ = reader_.has_value();
    }
    return has_ && node_.name == name ? &node_ : nullptr;
  }

 private:
  const WarningSink& warn_;
  std::optional<ListingReader> reader_;  // until the end or an error
  Node node_;                            // the reader's current node, if has_
  bool has_ = false;
};

class Archiver {
 public:
  Archiver(Repository& repo, BlobStore& store, const SnapshotOptions& opts,
           ArchiverProgress* progress, const WarningSink& warn)
      : repo_(repo),
        store_(store),
        opts_(opts),
        progress_(progress),
        warn_(warn),
        reader_(repo.config().chunker, repo.gear_table()) {}

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
  void ReadFile(AtPath at, const std::string& path, Node node, const std::shared_ptr<DirState>& dir,
                size_t slot, const Node* previous);
  // Hardlinks (walker). For a link of a multiply-linked file that is not unchanged since the
  // parent: true if it takes the content of a link met before (it is then resolved, at once or
  // when that link completes, and counted); false if the caller reads it, with `*first` set if
  // later links are to follow it (then links_.Leave or, on completion, ShareLinkContent).
  bool FollowLink(Node& node, const std::shared_ptr<DirState>& dir, size_t slot, bool had_previous,
                  bool* first);
  // Opens the directory `name` in `dirfd` with `flags` for the walk, or warns (naming `path`)
  // and returns -1: it cannot be opened, or the walk holds as many directories as it may.
  int OpenWalkDir(int dirfd, const std::string& name, const std::string& path, int flags);
  void CloseWalkDir(int fd);
  // Where FileReader puts a file's chunks and holes: into the file's runs and the chunk queue.
  class FileChunks;
  void Enqueue(ChunkJob job);

  // Completion (any thread).
  void Resolve(const std::shared_ptr<DirState>& dir, size_t slot, std::optional<Node> node);
  void CompleteFile(const std::shared_ptr<FileState>& file);
  // Hands the done runs at the front of `file`'s runs to its content list. Called by the walker
  // while it reads the file, then by the thread completing it (pipeline_state.h, FileState).
  void DrainRuns(FileState& file);
  // Stores the inline runs of `node` (more than a version 2 node holds: a format 1 parent's
  // unchanged file) as a content list; no data is read. False, with the snapshot failed, if
  // that fails.
  bool RelistContent(Node& node, const std::string& path);
  // Adds the blobs and bytes a finished content list stored to the summary and the progress.
  void CountContentList(const ContentWriter& content);
  // `first`, complete, gives its content to the links that wait for it.
  void ShareLinkContent(const Node& first);
  void CompleteDir(const std::shared_ptr<DirState>& dir);
  std::shared_ptr<DirState> NewDir() {
    auto dir = std::make_shared<DirState>();
    dir->listing.emplace(store_, TreeBlobKind::kListing);
    return dir;
  }
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

  Repository& repo_;
  BlobStore& store_;
  const SnapshotOptions& opts_;
  ArchiverProgress* progress_;
  const WarningSink& warn_;

  std::mutex mu_;
  Status error_;
  SnapshotSummary summary_;
  std::optional<std::vector<Id>> root_tree_;

  // Multiply-linked inodes whose links the walk has not all met. Its lock is never held with
  // mu_.
  HardlinkTable links_;

  FileReader reader_;          // walker thread only: holds the walk's one read buffer
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

class Archiver::FileChunks final : public ChunkSink {
 public:
  FileChunks(Archiver& archiver, const std::shared_ptr<FileState>& file)
      : archiver_(archiver), file_(file) {}

  void Chunk(Bytes data) override {
    PendingRun& pending = file_->runs.emplace_back();
    file_->pending.fetch_add(1, std::memory_order_relaxed);
    archiver_.Enqueue(ChunkJob{file_, &pending, std::move(data)});
    if (file_->runs.size() >= kDrainEvery) archiver_.DrainRuns(*file_);
  }
  // A hole run is final at once: the workers fill in only data runs.
  void Hole(uint64_t length) override {
    PendingRun& pending = file_->runs.emplace_back();
    pending.run = ContentRun{Id(), length, true};
    pending.done.store(true, std::memory_order_relaxed);
  }
  void BytesRead(uint64_t n) override {
    if (archiver_.progress_) archiver_.progress_->bytes += n;
  }
  bool Stopped() override { return archiver_.failed(); }

 private:
  Archiver& archiver_;
  const std::shared_ptr<FileState>& file_;  // the caller's, which outlives the sink
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
    job.run->run = ContentRun{puts[i].id, job.data.size(), false};
    job.run->done.store(true, std::memory_order_release);
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
  DrainRuns(*file);  // every run is done now
  ContentWriter& content = file->content;
  if (Status s = content.Finish(&file->node); !s.ok()) {
    return Fail(s.WithContext("storing the content list of " + file->node.name));
  }
  CountContentList(content);
  if (file->first_link) ShareLinkContent(file->node);
  Resolve(file->dir, file->slot, std::move(file->node));
}

void Archiver::DrainRuns(FileState& file) {
  while (!file.runs.empty() && file.runs.front().done.load(std::memory_order_acquire)) {
    if (!file.drop) {
      if (Status s = file.content.Add(file.runs.front().run); !s.ok()) {
        Fail(s.WithContext("storing " + file.node.name));
        file.drop = true;
      }
    }
    file.runs.pop_front();
  }
}

bool Archiver::RelistContent(Node& node, const std::string& path) {
  ContentWriter relist(store_);
  Status s;
  for (const ContentRun& r : node.content.runs) {
    if (s.ok()) s = relist.Add(r);
  }
  if (s.ok()) s = relist.Finish(&node);
  if (!s.ok()) {
    Fail(s.WithContext("storing the content list of " + path));
    return false;
  }
  CountContentList(relist);
  return true;
}

void Archiver::CountContentList(const ContentWriter& content) {
  if (content.blobs_added() == 0 && content.bytes_added() == 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_.tree_blobs += content.blobs_added();
    summary_.bytes_added += content.bytes_added();
  }
  if (progress_) progress_->bytes_added += content.bytes_added();
}

void Archiver::ShareLinkContent(const Node& first) {
  for (LinkFollower& f : links_.Share(first)) {
    if (progress_) {
      progress_->files++;
      progress_->bytes += f.node.size;
    }
    Resolve(f.dir, f.slot, std::move(f.node));
  }
}

bool Archiver::FollowLink(Node& node, const std::shared_ptr<DirState>& dir, size_t slot,
                          bool had_previous, bool* first) {
  using Decision = HardlinkTable::Decision;
  const uint64_t size = node.size;
  const Decision decision = links_.Follow(node, dir, slot);
  if (decision == Decision::kReadFirst) *first = true;
  if (decision == Decision::kReadFirst || decision == Decision::kReadAlone) return false;
  // Counted now, like a file read: the first link's content is certain to come (a first link
  // that fails is left (kUnread) before the walk goes on).
  {
    std::lock_guard<std::mutex> summary_lock(mu_);
    ++(had_previous ? summary_.files_changed : summary_.files_new);
    summary_.bytes_processed += size;
  }
  if (decision == Decision::kTaken) {
    if (progress_) {
      progress_->files++;
      progress_->bytes += size;
    }
    Resolve(dir, slot, std::move(node));
  }
  return true;
}

void Archiver::Resolve(const std::shared_ptr<DirState>& dir, size_t slot,
                       std::optional<Node> node) {
  {
    std::lock_guard<std::mutex> lock(dir->mu);
    const size_t k = slot - dir->written;
    if (k >= dir->window.size()) dir->window.resize(k + 1);
    dir->window[k] = DirState::Slot{true, std::move(node)};
    while (!dir->window.empty() && dir->window.front().resolved) {
      const std::optional<Node>& child = dir->window.front().node;
      if (child && !failed()) {
        Status s = dir->listing->AddNode(*child);
        if (!s.ok()) Fail(s.WithContext("storing the listing of " + dir->node.name));
      }
      dir->window.pop_front();
      ++dir->written;
    }
  }
  if (dir->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteDir(dir);
}

void Archiver::CompleteDir(const std::shared_ptr<DirState>& dir) {
  if (failed()) return;
  // Every child has resolved, and so has gone to the listing.
  auto root = dir->listing->Finish();
  if (!root.ok()) {
    Fail(root.status().WithContext("storing the listing of " + dir->node.name));
    return;
  }
  std::vector<Id> subtree{*root};
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_.tree_blobs += dir->listing->blobs_added();
    summary_.bytes_added += dir->listing->bytes_added();
    if (dir->parent) {  // the root is not a directory of its own
      if (!dir->previous_subtree) {
        ++summary_.dirs_new;
      } else if (*dir->previous_subtree == subtree) {
        ++summary_.dirs_unchanged;
      } else {
        ++summary_.dirs_changed;
      }
    }
  }
  if (progress_) progress_->bytes_added += dir->listing->bytes_added();
  if (!dir->parent) {
    std::lock_guard<std::mutex> lock(mu_);
    root_tree_ = std::move(subtree);
    return;
  }
  if (progress_) progress_->dirs++;
  dir->node.subtree = std::move(subtree);
  Resolve(dir->parent, dir->slot, std::move(dir->node));
}

void Archiver::ReadFile(AtPath at, const std::string& path, Node node,
                        const std::shared_ptr<DirState>& dir, size_t slot, const Node* previous) {
  const bool had_previous = previous && previous->type == NodeType::kFile;
  if (had_previous && !opts_.force && previous->size == node.size &&
      previous->mtime_ns == node.mtime_ns && previous->ctime_ns == node.ctime_ns &&
      previous->inode == node.inode) {
    node.content = previous->content;
    if (node.content.runs.size() > kMaxInlineRuns && !RelistContent(node, path)) {
      Resolve(dir, slot, std::nullopt);  // the snapshot has failed
      return;
    }
    if (node.nlink > 1) links_.NoteReused(node);
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
    if (first_link) links_.Leave(key);
    Resolve(dir, slot, std::nullopt);
    return;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  struct stat before;
  fstat(fd, &before);
  auto file = std::make_shared<FileState>(store_);
  file->node = std::move(node);
  file->dir = dir;
  file->slot = slot;
  FileChunks chunks(*this, file);
  ReadCounts counts;
  Status s = reader_.ReadFile(fd, before, path, chunks, &counts);
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
  file->node.size = counts.data_bytes + counts.hole_bytes;
  if (first_link) {
    // Later links follow only content that matches the stat they are compared with.
    const bool same = s.ok() && file->node.size == stat_size &&
                      static_cast<uint64_t>(after.st_size) == stat_size &&
                      TimespecNs(after.st_mtim) == file->node.mtime_ns &&
                      TimespecNs(after.st_ctim) == file->node.ctime_ns;
    if (same) {
      file->first_link = true;
    } else {
      links_.Leave(key);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_.bytes_read += counts.data_bytes;
    if (!file->drop) {
      ++(had_previous ? summary_.files_changed : summary_.files_new);
      summary_.bytes_processed += file->node.size;
    }
  }
  if (file->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) CompleteFile(file);
}

int Archiver::OpenWalkDir(int dirfd, const std::string& name, const std::string& path, int flags) {
  if (open_dirs_ >= depth_.levels) {
    Warn("cannot read directory " + path + ": nested more than " + std::to_string(depth_.levels) +
         " directories deep" +
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
  auto child = NewDir();
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
  auto listing = DirListing::Open(fd, path, opts_.excludes);
  if (!listing.ok()) {
    Warn(listing.status().message());
    return;  // stored as an empty directory
  }
  DirListing& names = **listing;
  if (!names.warning().empty()) Warn(names.warning());
  PreviousListing prev(store_, previous, path, warn_);
  dir->pending.fetch_add(static_cast<int64_t>(names.size()), std::memory_order_relaxed);
  bool listed = true;  // false once the listing failed: the names left are left out
  std::string name;
  for (uint64_t i = 0; i < names.size(); ++i) {
    std::string_view next;
    if (listed && !failed()) {
      auto more = names.Next(&next);
      if (!more.ok()) {
        Warn(more.status().message() + " (the rest of it is left out)");
      } else if (!*more) {  // fewer names than counted: cannot happen, but never hang on it
        Warn("cannot read directory " + path + ": its listing ended early");
      }
      listed = more.ok() && *more;
    }
    if (!listed || failed()) {
      Resolve(dir, i, std::nullopt);
      continue;
    }
    name.assign(next);
    WalkEntry(fd, JoinPath(path, name), name, dir, i, prev.Find(name), root_dev);
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
    for (const std::string& c : PathComponents(p)) t = &t->children[c];
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
  // Depth-first over the trie; `dir` (open as `dirfd`) holds `t`'s children; `previous` is it in
  // the parent snapshot.
  std::function<void(const PathTrie&, int, const std::string&, const std::shared_ptr<DirState>&,
                     const Node*)>
      walk = [&](const PathTrie& t, int dirfd, const std::string& path,
                 const std::shared_ptr<DirState>& dir, const Node* previous) {
        PreviousListing prev(store_, previous, path, warn_);
        dir->pending.fetch_add(static_cast<int64_t>(t.children.size()));
        size_t slot = 0;
        for (const auto& [name, sub] : t.children) {
          const std::string child_path = JoinPath(path, name);
          const Node* p = prev.Find(name);
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
              auto child = NewDir();
              child->node = std::move(node).value();
              child->parent = dir;
              child->slot = slot;
              if (p && p->type == NodeType::kDir) child->previous_subtree = p->subtree;
              int fd = OpenWalkDir(dirfd, name, child_path, kPassDirFlags);
              if (fd >= 0) {  // else stored as an empty directory
                walk(sub, fd, child_path, child, p);
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
  walk(trie, root_fd, "/", root, prev);
  CloseWalkDir(root_fd);
}

Result<std::vector<Id>> Archiver::Run(const std::optional<std::vector<Id>>& parent_tree) {
  int n = opts_.threads > 0 ? opts_.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::thread> workers;
  for (int i = 0; i < n; ++i) workers.emplace_back([this] { Worker(); });

  auto root = NewDir();
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
    root->pending.fetch_add(1);
    auto file = std::make_shared<FileState>(store_);
    file->node = std::move(node);
    file->dir = root;
    FileChunks chunks(*this, file);
    ReadCounts counts;
    Status s = reader_.ReadStream(opts_.stdin_fd, opts_.stdin_filename, chunks, &counts);
    const uint64_t read_bytes = counts.data_bytes;
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

}  // namespace

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

  // Parent: the newest snapshot of the same host and paths, unless given.
  // (The list comes from the local snapshot cache: no record is read or decrypted twice.)
  std::optional<std::vector<Id>> parent_tree;
  if (opts.parent) {
    snap.parent = opts.parent;
    ASSIGN_OR_RETURN(Snapshot parent, ReadSnapshot(repo.metadata(), *snap.parent));
    parent_tree = std::move(parent.tree);
  } else {
    ASSIGN_OR_RETURN(auto all, ListSnapshots(repo));
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->snapshot.hostname == snap.hostname && it->snapshot.paths == snap.paths) {
        snap.parent = it->id;
        parent_tree = std::move(it->snapshot.tree);
        break;
      }
    }
  }
  // Registered before the first index lookup and naming the parent, whose content is reused
  // without one (docs/design.md, "Sessions"); removed when this function returns.
  std::vector<Id> parents;
  if (snap.parent) parents.push_back(*snap.parent);
  ASSIGN_OR_RETURN(auto session, Session::Begin(repo, SessionKind::kWriter, "snapshot",
                                                std::move(parents), opts.session));
  // A parent forgotten before the session was visible may have had its content condemned by a
  // prune that could not see this session: its content is then not reused.
  if (snap.parent) {
    auto there = repo.backend().Stat({FileType::kSnapshot, snap.parent->Hex()});
    if (!there.ok() && !there.status().IsNotFound()) return there.status();
    if (!there.ok()) {
      warn("parent snapshot " + snap.parent->ShortHex() +
           " was removed meanwhile; reading every file");
      snap.parent.reset();
      parent_tree.reset();
    }
  }
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());

  std::thread scanner;
  if (progress && progress->want_totals && opts.stdin_fd < 0) {
    scanner = std::thread([&] { ScanTotals(opts.paths, opts.excludes, progress); });
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
  // A session someone removed (`repo unlock`) may have let maintenance treat what this snapshot
  // reuses as unused: then no snapshot is written.
  Id id;
  RETURN_IF_ERROR(session->Commit([&]() -> Status {
    ASSIGN_OR_RETURN(id, WriteSnapshot(repo.metadata(), snap));
    return Status::OK();
  }));
  // The snapshot exists: a record that cannot be removed is left for the next command.
  Status ended = session->End();
  if (!ended.ok()) warn(ended.message());
  return ArchiveResult{id, std::move(snap)};
}

}  // namespace repo
