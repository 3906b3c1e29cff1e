// Archiver: `repo snapshot`. Walks paths (or reads one stream), cuts content with FastCDC, and
// stores it through a parallel pipeline, then writes the trees and, last, the snapshot record.
//
// Pipeline (docs/design.md, "Snapshot pipeline"): the calling thread walks directories in name
// order, stats entries, reads changed files and chunks them; chunks go through a queue bounded
// by bytes to worker threads that hash, deduplicate, compress, encrypt and pack them. A
// directory's tree is stored by whichever thread completes its last child, so the walk never
// waits for a directory to finish. Memory is bounded whatever the input size.
//
// Incremental: a file whose type, size, mtime, ctime and inode equal the parent snapshot's node
// at the same path is not read; its content list is reused (unless `force`).
//
// Hardlinks: a regular file with several links is read once per snapshot; a later link of the
// same inode with equal size, mtime and ctime takes the first link's content list.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/warning_sink.h"
#include "repo/archiver/exclude_rules.h"  // ExcludeRules, IsExcluded
#include "repo/model/snapshot.h"
#include "repo/store/repository.h"
#include "repo/store/session.h"

namespace repo {

struct SnapshotOptions {
  std::vector<std::string> paths;  // files or directories; made absolute
  std::vector<std::string> tags;
  std::string hostname;  // default: this machine's
  ExcludeRules excludes;
  bool force = false;        // read every file even if unchanged since the parent
  std::optional<Id> parent;  // explicit parent; default: newest with same host and paths
  // Stream mode: instead of paths, store what `stdin_fd` yields as file `stdin_filename`.
  int stdin_fd = -1;
  std::string stdin_filename;
  // Called once the stream has reached its end, before anything is committed: an error aborts
  // the snapshot (no snapshot file is written). `--stdin-from-command` checks the command's exit
  // status here, so a failed dump never looks like a good backup.
  std::function<Status()> stream_finished;
  SessionOptions session;          // the session the snapshot runs in (its `note` sink)
  int threads = 0;                 // workers; 0: one per core
  size_t queue_bytes = 16u << 20;  // chunk bytes in flight between the walk and the workers
};

// Live counters for progress output; written by the archiver, read by any thread.
struct ArchiverProgress {
  std::atomic<uint64_t> files{0};  // files done (read or unchanged)
  std::atomic<uint64_t> dirs{0};
  std::atomic<uint64_t> bytes{0};        // bytes of files done or being read
  std::atomic<uint64_t> bytes_added{0};  // sealed bytes added to packs
  std::atomic<uint64_t> errors{0};
  // Set by the caller: run a stat-only scan beside the walk for totals and an ETA. It costs a
  // second pass over the metadata, so only ask when someone watches the progress.
  bool want_totals = false;
  // From that scan; 0 until it finishes (then `scan_done`).
  std::atomic<uint64_t> total_files{0};
  std::atomic<uint64_t> total_bytes{0};
  std::atomic<bool> scan_done{false};
};

struct ArchiveResult {
  Id snapshot_id;
  Snapshot snapshot;
};

// Runs a snapshot. Each problem that does not stop it (an unreadable or vanished file, a file
// changed while read) goes to `warn` and is counted in the summary's errors. On error nothing is
// recorded: no snapshot file is written (blobs already stored are harmless and reused by the next
// run). `progress` may be null.
Result<ArchiveResult> RunSnapshot(Repository& repo, const SnapshotOptions& options,
                                  ArchiverProgress* progress, const WarningSink& warn);

}  // namespace repo
