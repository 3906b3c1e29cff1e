#include "repo/restorer/restorer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>

#include "repo/model/fs_meta.h"
#include "repo/model/tree_io.h"
#include "repo/os/fd_io.h"
#include "repo/restorer/restore_plan.h"
#include "repo/store/blob_codec.h"
#include "repo/store/pack_reader.h"

namespace repo {
namespace {

// --verify checks up to this many adjacent runs, and about this many bytes, per read, their ids
// hashed together (as the read seam does: repo/store/pack_reader.h).
constexpr size_t kDecodeBatch = PackReader::kDecodeBatch;
constexpr uint64_t kDecodeBytes = PackReader::kDecodeBytes;

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

// One file of the batch being restored: created by the first worker that writes into it, and
// given its metadata by the worker that writes its last blob, through that worker's fd.
struct BatchFile {
  std::atomic<uint32_t> writes_left{0};  // blob writes still to do
  std::atomic<bool> created{false};
  bool last_segment = true;  // false: the file goes on in the next batch
};

// A worker's open target files, kept across the packs of a batch (a large file goes on in a
// later pack); a file's fd is closed when the file is finished, or all are when too many.
class OpenFiles {
 public:
  ~OpenFiles() { CloseAll(); }
  int Find(uint32_t file) const {
    auto it = fds_.find(file);
    return it == fds_.end() ? -1 : it->second;
  }
  void Add(uint32_t file, int fd) {
    if (fds_.size() >= kMaxOpen) CloseAll();
    fds_.emplace(file, fd);
  }
  void Close(uint32_t file) {
    auto it = fds_.find(file);
    if (it == fds_.end()) return;
    close(it->second);
    fds_.erase(it);
  }
  PathResolver& resolver() { return resolver_; }

 private:
  static constexpr size_t kMaxOpen = 256;
  void CloseAll() {
    for (auto& [file, fd] : fds_) close(fd);
    fds_.clear();
  }
  std::unordered_map<uint32_t, int> fds_;
  PathResolver resolver_;  // this thread's
};

struct Target {
  uint32_t file;    // index into the batch's files
  uint32_t length;  // of the run (data runs are below 4 GiB)
  uint64_t offset;  // in the file
};

// What a batch of files needs: which blobs go where, and the blobs grouped by pack.
struct BatchPlan {
  std::unordered_map<Id, std::vector<Target>, IdHash> targets;
  std::vector<uint32_t> no_content;  // files without any blob (empty, or all hole)
  std::vector<std::pair<Id, std::vector<IndexEntry>>> packs;  // each sorted by offset
  std::vector<std::pair<Id, std::string>> lost;               // blobs not in the index, and why
};

class Restorer {
 public:
  Restorer(Repository& repo, BlobStore& store, const RestoreOptions& opts,
           RestoreProgress* progress, const WarningSink& warn)
      : repo_(repo), store_(store), opts_(opts), progress_(progress), warn_(warn) {}

  Result<RestoreSummary> Run(const Snapshot& snapshot);

 private:
  // A walk of its own before anything is written: every step's target must be free (unless
  // --overwrite; skipped into an empty directory), and the progress's totals.
  Status Survey(const std::vector<Id>& root, bool check_conflicts);
  bool TargetIsEmpty();
  // Takes the next batch from the walk: its steps, and its files up to
  // RestoreOptions::runs_per_batch runs and steps (the last file cut into a segment if it has
  // more), with their countdowns and the targets of their blobs. False when nothing is left.
  Result<bool> CollectBatch(BatchPlan* plan);
  // Where the batch's blobs are (batched index lookups), grouped by pack. Uses no path
  // resolver, so it may run beside CreateSkeleton.
  Status LocateBatch(BatchPlan* plan);
  // The batch's directories and other nodes.
  Status CreateSkeleton();
  // After the batch's contents: its hardlinks, then the metadata of its other nodes and of the
  // directories it finished (files have theirs already: FinishFile).
  Status FinishSkeleton();
  // Writes the batch's files with one worker per core.
  Status RestoreBatch(BatchPlan& plan);
  Status RestorePack(PackReader& reader, const std::vector<IndexEntry>& blobs,
                     const std::unordered_map<Id, std::vector<Target>, IdHash>& targets,
                     OpenFiles& open);
  // Writes the plaintext of a blob to each of its targets, finishing the files it completes.
  Status WriteBlob(const std::vector<Target>& targets, ByteSpan plain, OpenFiles& open);
  // A blob that cannot be read: its targets' ranges are recorded as lost (left as zeros), and
  // the files it completes are finished all the same.
  Status LoseBlob(const std::vector<Target>& targets, const std::string& why, OpenFiles& open);
  // One write (or loss) into batch file `t.file` done: finishes the file after its last.
  void CountDown(const Target& t, int fd, OpenFiles& open);
  // Records bytes [offset, offset + length) of `path` as lost.
  void RecordDamage(const std::string& path, uint64_t offset, uint64_t length,
                    const std::string& why);
  bool IsDamaged(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return damage_.count(path) > 0;
  }
  // The fd of batch file `i` in `open`, creating the file if no worker has yet.
  Result<int> OpenTarget(uint32_t i, OpenFiles& open);
  // Creates `f` (replacing what is there with --overwrite), sized if it ends in a hole.
  Result<int> CreateFile(const PlannedFile& f, PathResolver& resolver);
  // Applies the metadata of `f`, whose content is complete, through `fd`; counts it restored.
  void FinishFile(const PlannedFile& f, int fd);
  // Runs `worker` on one thread per core (or opts_.threads) and waits for them all.
  void RunWorkers(const std::function<void()>& worker) {
    const int n = opts_.threads > 0
                      ? opts_.threads
                      : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  // --verify: re-reads the batch's files that it finished, spread over one worker per core.
  Status VerifyFiles();
  // Re-reads `f` (found with `resolver`) and checks its size, its holes (read a bounded piece
  // at a time) and the ids of its blobs: up to kDecodeBatch adjacent runs, within kDecodeBytes
  // unless one run is larger, are one read with their ids hashed together; `buf` is reused.
  Status Verify(const PlannedFile& f, PathResolver& resolver, Bytes& buf);
  void Warn(const std::string& m) {
    std::lock_guard<std::mutex> lock(mu_);
    ++summary_.warnings;
    if (warn_) warn_(m);
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
  const WarningSink& warn_;
  const bool as_root_ = geteuid() == 0;
  PathResolver resolver_;  // the calling thread's (workers have their own)

  std::optional<RestoreWalk> walk_;  // set by Run
  // The batch being restored (CollectBatch ... FinishSkeleton): its steps other than files, in
  // walk order, and its files, files_[i] being batch_[i] (a deque: its atomics never move).
  std::vector<RestoreStep> steps_;
  std::vector<PlannedFile> files_;
  std::deque<BatchFile> batch_;
  // The file whose runs are being taken, which a batch cut at its end leaves in `cursor_file_`
  // for the next one to go on with: the run `cursor_reader_` is at, at `cursor_offset_`.
  std::optional<PlannedFile> cursor_file_;
  std::optional<ContentReader> cursor_reader_;
  uint64_t cursor_offset_ = 0;
  std::array<std::mutex, 64> create_mu_;  // batch file i is created under create_mu_[i % 64]

  std::mutex mu_;
  RestoreSummary summary_;
  std::map<std::string, DamagedFile> damage_;  // under mu_; into summary_ at the end
};

Status Restorer::Survey(const std::vector<Id>& root, bool check_conflicts) {
  RestoreWalk walk(store_, root, opts_);
  for (RestoreStep step;;) {
    ASSIGN_OR_RETURN(bool more, walk.Next(&step));
    if (!more) return Status::OK();
    if (step.kind == RestoreStep::Kind::kFile && progress_) {
      progress_->total_files++;
      progress_->total_bytes += step.node.size;
    }
    if (!check_conflicts || step.kind == RestoreStep::Kind::kDirDone) continue;
    struct stat st;
    if (!Lstat(step.path, &st)) continue;
    if (step.kind != RestoreStep::Kind::kDir) {
      return Status::AlreadyExists(step.path +
                                   " exists; restore into an empty directory or use --overwrite");
    }
    if (!S_ISDIR(st.st_mode)) {
      return Status::AlreadyExists(step.path + " exists and is not a directory; use --overwrite");
    }
  }
}

Status Restorer::CreateSkeleton() {
  for (const RestoreStep& step : steps_) {
    const std::string& path = step.path;
    const Node& n = step.node;
    if (step.kind == RestoreStep::Kind::kDir) {
      ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(path));
      struct stat st;
      if (fstatat(at.dir, at.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        if (unlinkat(at.dir, at.name, 0) != 0) return Status::FromErrno(errno, "replacing " + path);
      }
      if (mkdirat(at.dir, at.name, 0700) != 0 && errno != EEXIST) {
        return Status::FromErrno(errno, "creating directory " + path);
      }
      ++summary_.dirs;
      continue;
    }
    if (step.kind != RestoreStep::Kind::kOther) continue;
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
        rc = mknodat(at.dir, at.name, (n.type == NodeType::kCharDevice ? S_IFCHR : S_IFBLK) | 0600,
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
  return Status::OK();
}

// A link's first path is a file of this batch or an earlier one, which has been created (every
// file is, by the end of its first batch).
Status Restorer::FinishSkeleton() {
  PathResolver first_resolver;  // a link needs both of its ends open at once
  for (const RestoreStep& step : steps_) {
    if (step.kind != RestoreStep::Kind::kLink) continue;
    ASSIGN_OR_RETURN(AtPath at, resolver_.Resolve(step.path));
    ASSIGN_OR_RETURN(AtPath first_at, first_resolver.Resolve(step.link_to));
    if (opts_.overwrite) unlinkat(at.dir, at.name, 0);
    if (linkat(first_at.dir, first_at.name, at.dir, at.name, 0) != 0) {
      return Status::FromErrno(errno, "linking " + step.path + " to " + step.link_to);
    }
    ++summary_.others;
  }
  // One failure to reach an entry is a warning like any other metadata failure. A directory's
  // kDirDone comes after everything inside it, so nothing disturbs the times set.
  for (const RestoreStep& step : steps_) {
    if (step.kind != RestoreStep::Kind::kOther && step.kind != RestoreStep::Kind::kDirDone) {
      continue;
    }
    struct stat st;
    if (step.kind == RestoreStep::Kind::kOther && !Lstat(step.path, &st)) {
      continue;  // skipped (socket, device)
    }
    auto at = resolver_.Resolve(step.path);
    Status s = at.ok() ? ApplyMetadata(*at, step.path, step.node, as_root_) : at.status();
    if (!s.ok()) Warn(s.message());
  }
  return Status::OK();
}

Result<int> Restorer::CreateFile(const PlannedFile& f, PathResolver& resolver) {
  ASSIGN_OR_RETURN(AtPath at, resolver.Resolve(f.path));
  if (opts_.overwrite) unlinkat(at.dir, at.name, 0);  // replace whatever is there, even a symlink
  int fd = openat(at.dir, at.name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno(errno, "creating " + f.path);
  // Data is written into place, which extends the file; only a trailing hole needs the size set
  // (holes stay holes).
  // (A file whose runs are in a content list is sized too: its last run is not at hand.)
  const auto& runs = f.node.content.runs;
  if (f.node.size > 0 && (f.node.content.list || runs.empty() || runs.back().hole) &&
      ftruncate(fd, static_cast<off_t>(f.node.size)) != 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno(err, "sizing " + f.path);
  }
  return fd;
}

Result<int> Restorer::OpenTarget(uint32_t i, OpenFiles& open) {
  if (int fd = open.Find(i); fd >= 0) return fd;
  const PlannedFile& f = files_[i];
  BatchFile& b = batch_[i];
  int fd = -1;
  if (!b.created.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(create_mu_[i % create_mu_.size()]);
    if (!b.created.load(std::memory_order_relaxed)) {
      ASSIGN_OR_RETURN(fd, CreateFile(f, open.resolver()));
      b.created.store(true, std::memory_order_release);
    }
  }
  if (fd < 0) {  // another worker created it
    ASSIGN_OR_RETURN(AtPath at, open.resolver().Resolve(f.path));
    fd = openat(at.dir, at.name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Status::FromErrno(errno, "opening " + f.path);
  }
  open.Add(i, fd);
  return fd;
}

void Restorer::FinishFile(const PlannedFile& f, int fd) {
  // A file that lost its last run (or a content list) is not written to its end: sized here,
  // the lost ranges read as zeros.
  if (IsDamaged(f.path) && ftruncate(fd, static_cast<off_t>(f.node.size)) != 0) {
    Warn("sizing " + f.path + ": " + std::strerror(errno));
  }
  Status s = ApplyMetadata(AtPath{}, f.path, f.node, as_root_, fd);
  if (!s.ok()) Warn(s.message());
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++summary_.files;
    summary_.bytes += f.node.size;
  }
  if (progress_) progress_->files++;
}

Status Restorer::WriteBlob(const std::vector<Target>& targets, ByteSpan plain, OpenFiles& open) {
  for (const Target& t : targets) {
    const PlannedFile& f = files_[t.file];
    ASSIGN_OR_RETURN(int fd, OpenTarget(t.file, open));
    RETURN_IF_ERROR(PwriteAll(fd, plain, t.offset, "writing " + f.path));
    if (progress_) progress_->bytes += plain.size();
    CountDown(t, fd, open);
  }
  return Status::OK();
}

Status Restorer::LoseBlob(const std::vector<Target>& targets, const std::string& why,
                          OpenFiles& open) {
  for (const Target& t : targets) {
    RecordDamage(files_[t.file].path, t.offset, t.length, why);
    ASSIGN_OR_RETURN(int fd, OpenTarget(t.file, open));  // it exists, even if nothing else is
    CountDown(t, fd, open);
  }
  return Status::OK();
}

void Restorer::CountDown(const Target& t, int fd, OpenFiles& open) {
  // The last write into the file, by whichever worker: every other write has returned.
  if (batch_[t.file].writes_left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (batch_[t.file].last_segment) FinishFile(files_[t.file], fd);
    open.Close(t.file);
  }
}

void Restorer::RecordDamage(const std::string& path, uint64_t offset, uint64_t length,
                            const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  DamagedFile& d = damage_[path];
  if (d.path.empty()) {
    d.path = path;
    d.why = why;
  }
  d.ranges.emplace_back(offset, length);
}

Status Restorer::RestorePack(PackReader& reader, const std::vector<IndexEntry>& blobs,
                             const std::unordered_map<Id, std::vector<Target>, IdHash>& targets,
                             OpenFiles& open) {
  size_t next = 0;  // blobs before it are written
  // An error of the restore's own writes (the target's filesystem) is never the repository's
  // damage: it stops the restore (some of the blob's targets may already be counted down).
  Status write_failed = Status::OK();
  auto write = [&](const std::vector<Target>& to, ByteSpan plain) {
    write_failed = WriteBlob(to, plain, open);
    return write_failed;
  };
  Status s = reader.Read(blobs, [&](size_t k, Bytes& plain) {
    RETURN_IF_ERROR(write(targets.at(blobs[k].blob), plain));
    next = k + 1;
    return Status::OK();
  });
  if (!write_failed.ok()) return write_failed;
  if (s.ok() || !IsDamage(s) || next >= blobs.size()) return s;
  // Something in this pack cannot be read (or the pack is gone): the rest blob by blob, so that
  // only what is lost is lost.
  for (size_t k = next; k < blobs.size(); ++k) {
    const std::vector<Target>& to = targets.at(blobs[k].blob);
    Status one =
        reader.Read({&blobs[k], 1}, [&](size_t, Bytes& plain) { return write(to, plain); });
    if (!write_failed.ok()) return write_failed;
    if (one.ok()) continue;
    if (!IsDamage(one)) return one;
    RETURN_IF_ERROR(LoseBlob(to, one.message(), open));
  }
  return Status::OK();
}

Result<bool> Restorer::CollectBatch(BatchPlan* plan) {
  steps_.clear();
  files_.clear();
  batch_.clear();
  size_t units = 0;  // runs and steps taken
  // Takes the runs of the file at the cursor into the batch, to the end of the file or of the
  // batch (at least one, so that every batch moves on).
  auto take_runs = [&]() -> Status {
    const uint32_t i = static_cast<uint32_t>(files_.size() - 1);
    BatchFile& b = batch_[i];
    uint32_t writes = 0;
    bool ended = false;
    for (size_t taken = 0; taken == 0 || units < opts_.runs_per_batch; ++taken, ++units) {
      ContentRun r;
      auto more = cursor_reader_->Next(&r);
      if (!more.ok()) {
        // The content list cannot be read: the rest of the file is lost.
        if (!IsDamage(more.status())) return more.status();
        const PlannedFile& f = files_.back();
        RecordDamage(f.path, cursor_offset_, f.node.size - std::min(cursor_offset_, f.node.size),
                     more.status().message());
        ended = true;
        break;
      }
      if (!*more) {
        ended = true;
        break;
      }
      if (!r.hole) {
        plan->targets[r.blob].push_back({i, static_cast<uint32_t>(r.length), cursor_offset_});
        ++writes;
      }
      cursor_offset_ += r.length;
    }
    b.writes_left.store(writes, std::memory_order_relaxed);
    b.last_segment = ended;
    // A segment without data creates the file all the same, so that it exists (for links, and
    // the next segment) once the batch is done.
    if (writes == 0) plan->no_content.push_back(i);
    if (ended) {
      cursor_reader_.reset();
      cursor_file_.reset();
    } else if (!cursor_file_) {
      cursor_file_ = files_.back();  // for the next batch
    }
    return Status::OK();
  };
  if (cursor_file_) {  // a file cut at the end of the last batch goes on
    files_.push_back(*cursor_file_);
    batch_.emplace_back().created.store(true, std::memory_order_relaxed);
    RETURN_IF_ERROR(take_runs());
  }
  while (!cursor_reader_ && units < opts_.runs_per_batch) {
    RestoreStep step;
    ASSIGN_OR_RETURN(bool more, walk_->Next(&step));
    if (!more) break;
    ++units;
    if (step.kind != RestoreStep::Kind::kFile) {
      steps_.push_back(std::move(step));
      continue;
    }
    files_.push_back(PlannedFile{std::move(step.path), std::move(step.node)});
    batch_.emplace_back();
    cursor_reader_.emplace(store_, files_.back().node, files_.back().path);
    cursor_offset_ = 0;
    RETURN_IF_ERROR(take_runs());
  }
  return !steps_.empty() || !files_.empty();
}

Status Restorer::LocateBatch(BatchPlan* plan) {
  // Where each blob is, grouped by pack: batched index lookups.
  std::vector<Id> ids;
  ids.reserve(plan->targets.size());
  for (const auto& [id, t] : plan->targets) ids.push_back(id);
  std::map<Id, std::vector<IndexEntry>> by_pack;
  constexpr size_t kLookupBatch = 4096;
  std::vector<std::optional<BlobLocation>> locs;
  for (size_t at = 0; at < ids.size(); at += kLookupBatch) {
    std::span<const Id> some(ids.data() + at, std::min(kLookupBatch, ids.size() - at));
    RETURN_IF_ERROR(store_.FindMany(some, &locs));
    for (size_t k = 0; k < some.size(); ++k) {
      if (!locs[k]) {
        plan->lost.emplace_back(some[k],
                                "data blob " + some[k].ShortHex() + " is not in the index");
      } else if (locs[k]->type != BlobType::kData) {
        plan->lost.emplace_back(some[k],
                                "blob " + some[k].ShortHex() + " is a tree blob, not data");
      } else {
        by_pack[locs[k]->pack].push_back(IndexEntry{some[k], *locs[k]});
      }
    }
  }
  plan->packs.assign(std::make_move_iterator(by_pack.begin()),
                     std::make_move_iterator(by_pack.end()));
  // In offset order, so that adjacent blobs are fetched in one read.
  for (auto& [pack, blobs] : plan->packs) {
    std::sort(blobs.begin(), blobs.end(),
              [](const IndexEntry& a, const IndexEntry& b) { return a.loc.offset < b.loc.offset; });
  }
  return Status::OK();
}

Status Restorer::RestoreBatch(BatchPlan& plan) {
  auto& packs = plan.packs;
  const auto& targets = plan.targets;
  const auto& no_content = plan.no_content;
  std::atomic<size_t> next_pack{0}, next_empty{0};
  std::atomic<bool> stop{false};
  Status failed;
  std::mutex fail_mu;
  auto fail = [&](const Status& s) {
    std::lock_guard<std::mutex> lock(fail_mu);
    if (failed.ok()) failed = s;
    stop = true;
  };
  std::atomic<size_t> next_lost{0};
  auto worker = [&] {
    OpenFiles open;
    PackReader reader(repo_.backend(), repo_.keys());
    for (size_t k; !stop && (k = next_lost.fetch_add(1)) < plan.lost.size();) {
      Status s = LoseBlob(targets.at(plan.lost[k].first), plan.lost[k].second, open);
      if (!s.ok()) return fail(s);
    }
    for (size_t p; !stop && (p = next_pack.fetch_add(1)) < packs.size();) {
      Status s = RestorePack(reader, packs[p].second, targets, open);
      if (!s.ok()) return fail(s);
    }
    for (size_t k; !stop && (k = next_empty.fetch_add(1)) < no_content.size();) {
      const uint32_t i = no_content[k];
      auto fd = OpenTarget(i, open);  // created already if an earlier segment was
      if (!fd.ok()) return fail(fd.status());
      if (batch_[i].last_segment) FinishFile(files_[i], *fd);
      open.Close(i);
    }
  };
  RunWorkers(worker);
  summary_.packs_read += packs.size();
  return failed;
}

Status Restorer::VerifyFiles() {
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  Status failed;
  std::mutex fail_mu;
  auto worker = [&] {
    PathResolver resolver;
    Bytes buf;
    for (size_t i; !stop && (i = next.fetch_add(1)) < files_.size();) {
      if (!batch_[i].last_segment) continue;  // verified once its last segment is written
      if (IsDamaged(files_[i].path)) continue;  // known to differ: named as damaged
      Status s = Verify(files_[i], resolver, buf);
      if (s.ok()) continue;
      std::lock_guard<std::mutex> lock(fail_mu);
      if (failed.ok()) failed = s;
      stop = true;
    }
  };
  RunWorkers(worker);
  if (failed.ok()) {
    for (size_t i = 0; i < batch_.size(); ++i) {
      summary_.verified_files += batch_[i].last_segment && !IsDamaged(files_[i].path);
    }
  }
  return failed;
}

Status Restorer::Verify(const PlannedFile& f, PathResolver& resolver, Bytes& buf) {
  ASSIGN_OR_RETURN(AtPath at, resolver.Resolve(f.path));
  int fd = openat(at.dir, at.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::FromErrno(errno, "verifying " + f.path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Status s = Status::FromErrno(errno, "verifying " + f.path);
    close(fd);
    return s;
  }
  if (static_cast<uint64_t>(st.st_size) != f.node.size) {
    close(fd);
    return Status::Corruption(f.path + ": size " + std::to_string(st.st_size) + ", snapshot has " +
                              std::to_string(f.node.size));
  }
  // Reads [offset, offset + len) into buf: OK, or what failed (a short read is Corruption).
  auto read = [&](uint64_t offset, size_t len) -> Status {
    buf.resize(len);
    ASSIGN_OR_RETURN(size_t got, PreadFull(fd, buf, offset, "verifying " + f.path));
    if (got < len) {
      return Status::Corruption(f.path + ": short read at offset " + std::to_string(offset + got));
    }
    return Status::OK();
  };
  auto differs = [&](uint64_t offset) {
    return Status::Corruption(f.path + ": content differs from the snapshot at offset " +
                              std::to_string(offset));
  };
  // Holes are checked a bounded piece at a time; adjacent data runs (up to kDecodeBatch, about
  // kDecodeBytes) are one read with their ids hashed together.
  Status result = [&]() -> Status {
    ContentReader content(store_, f.node, f.path);
    std::vector<ContentRun> group;
    std::vector<ByteSpan> data;
    std::vector<Id> ids;
    ContentRun run;
    ASSIGN_OR_RETURN(bool more, content.Next(&run));
    uint64_t offset = 0;  // of `run`, or of group[0]
    while (more) {
      if (run.hole) {
        // A hole must read as zeros. Where the filesystem reports no data in it (SEEK_DATA), it
        // does; otherwise it is read and checked whatever its length.
        const off_t data_at = lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
        const bool unwritten =
            (data_at < 0 && errno == ENXIO) ||
            (data_at >= 0 && static_cast<uint64_t>(data_at) >= offset + run.length);
        for (uint64_t done = unwritten ? run.length : 0; done < run.length;) {
          const size_t piece = static_cast<size_t>(std::min(run.length - done, kDecodeBytes));
          RETURN_IF_ERROR(read(offset + done, piece));
          const auto nonzero =
              std::find_if(buf.begin(), buf.end(), [](uint8_t b) { return b != 0; });
          if (nonzero != buf.end()) return differs(offset + done + (nonzero - buf.begin()));
          done += piece;
        }
        offset += run.length;
        ASSIGN_OR_RETURN(more, content.Next(&run));
        continue;
      }
      group.clear();
      uint64_t len = 0;
      while (more && !run.hole && group.size() < kDecodeBatch &&
             (group.empty() || len + run.length <= kDecodeBytes)) {
        len += run.length;
        group.push_back(run);
        ASSIGN_OR_RETURN(more, content.Next(&run));
      }
      RETURN_IF_ERROR(read(offset, static_cast<size_t>(len)));
      data.clear();
      for (uint64_t at = 0; const ContentRun& r : group) {
        data.push_back(ByteSpan(buf).subspan(at, r.length));
        at += r.length;
      }
      ids.resize(data.size());
      ComputeBlobIds(repo_.keys(), BlobType::kData, data, ids);
      for (size_t k = 0; k < group.size(); offset += group[k++].length) {
        if (ids[k] != group[k].blob) return differs(offset);
      }
    }
    return Status::OK();
  }();
  close(fd);
  return result;
}

bool Restorer::TargetIsEmpty() {
  if (opts_.target.empty()) return false;  // restoring to /
  auto at = resolver_.Resolve(opts_.target);
  if (!at.ok()) return at.status().code() == StatusCode::kNotFound;
  int fd = openat(at->dir, at->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return false;
  }
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

Result<RestoreSummary> Restorer::Run(const Snapshot& snapshot) {
  // Into a new or empty directory nothing can be in the way (and O_EXCL still guards each file).
  const bool check_conflicts = !opts_.overwrite && !TargetIsEmpty();
  if (progress_ || check_conflicts) RETURN_IF_ERROR(Survey(snapshot.tree, check_conflicts));
  if (!opts_.target.empty()) RETURN_IF_ERROR(MakeDirectories(opts_.target));
  walk_.emplace(store_, snapshot.tree, opts_);
  for (;;) {
    BatchPlan plan;
    ASSIGN_OR_RETURN(bool any, CollectBatch(&plan));
    if (!any) break;
    // The batch's index lookups run while its directories and special files are made.
    Status skeleton, located;
    {
      std::jthread maker([&] { skeleton = CreateSkeleton(); });
      located = LocateBatch(&plan);
    }
    RETURN_IF_ERROR(skeleton);
    RETURN_IF_ERROR(located);
    RETURN_IF_ERROR(RestoreBatch(plan));
    RETURN_IF_ERROR(FinishSkeleton());
    if (opts_.verify) RETURN_IF_ERROR(VerifyFiles());
  }
  for (auto& [path, d] : damage_) {
    std::sort(d.ranges.begin(), d.ranges.end());
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    for (const auto& [offset, length] : d.ranges) {
      if (!merged.empty() && merged.back().first + merged.back().second >= offset) {
        merged.back().second =
            std::max(merged.back().first + merged.back().second, offset + length) -
            merged.back().first;
      } else {
        merged.emplace_back(offset, length);
      }
    }
    d.ranges = std::move(merged);
    summary_.damaged.push_back(std::move(d));
  }
  return summary_;
}

}  // namespace

Result<RestoreSummary> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                       const RestoreOptions& options, RestoreProgress* progress,
                                       const WarningSink& warn) {
  if (options.target.empty()) return Status::InvalidArgument("no restore target given (--target)");
  RestoreOptions opts = options;
  opts.runs_per_batch = std::max<size_t>(opts.runs_per_batch, 1);
  opts.target = std::filesystem::absolute(opts.target).lexically_normal().string();
  while (opts.target.size() > 1 && opts.target.back() == '/') opts.target.pop_back();
  if (opts.target == "/") opts.target.clear();  // restoring to / : snapshot paths are absolute
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  Restorer r(repo, *store, opts, progress, warn);
  return r.Run(snapshot);
}

}  // namespace repo
