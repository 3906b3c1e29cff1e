// Restorer: `repo restore`. Recreates a snapshot (or part of it) under a target directory with
// contents and metadata: owners (when root), modes, times, xattrs, hardlinks, sparse holes,
// symlinks, fifos and devices.
//
// It follows one walk of the snapshot (RestoreWalk, restore_plan.h), which decides which entries
// are restored and where, a batch of entries and content runs at a time, so that memory is
// bounded whatever the snapshot's size; a first walk of its own refuses an existing target
// before anything is written.
//
// A batch's contents are restored pack by pack: every blob its files need is located, the blobs
// are grouped by pack and sorted by offset, and each pack region is read once (adjacent blobs in
// one read) and written to every place that needs it, by several threads at once. Metadata is
// applied afterwards, a directory's once everything inside it is done (deepest first), so
// nothing disturbs the times set.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/warning_sink.h"
#include "repo/model/snapshot.h"
#include "repo/store/repository.h"

namespace repo {

struct RestoreOptions {
  std::string target;                 // created if missing
  std::vector<std::string> includes;  // glob patterns; empty: everything
  std::vector<std::string> excludes;  // glob patterns
  bool overwrite = false;             // replace existing files instead of refusing
  bool verify = false;                // re-read restored files and check them against the ids
  int threads = 0;                    // 0: one per core
  // Content runs planned per batch: bounds restore's memory whatever the snapshot's size; a file
  // with more runs is restored in segments over several batches. (Lower only to test that.)
  size_t runs_per_batch = 65536;
};

struct RestoreProgress {
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> bytes{0};
  uint64_t total_files = 0, total_bytes = 0;  // set once planned
};

// A restored file whose content is partly lost (damaged or missing in the repository): those
// byte ranges hold zeros, the rest is restored.
struct DamagedFile {
  std::string path;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [offset, offset + length), merged, sorted
  std::string why;                                    // why the first range is lost
};

struct RestoreSummary {
  uint64_t files = 0, dirs = 0, others = 0;  // others: symlinks, fifos, devices, hardlinks
  uint64_t bytes = 0;
  uint64_t packs_read = 0;
  uint64_t warnings = 0;  // metadata that could not be applied (e.g. owners when not root)
  uint64_t verified_files = 0;
  std::vector<DamagedFile> damaged;  // by path; not verified
};

// Restores `snapshot`. Metadata that cannot be applied (owners when not root, say) goes to
// `warn` and is counted in the summary's warnings. AlreadyExists (naming the first file) before
// anything is written if a file to restore exists and !overwrite. With verify, Corruption names a
// file that differs (the first one a worker found). Content that cannot be read (a blob not in
// the index, damaged, or in a missing pack; a content list that cannot be read) does not stop it:
// every file is restored, the lost ranges as zeros, and named in the summary's `damaged`. A
// directory listing that cannot be read still stops it (Corruption naming it).
Result<RestoreSummary> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                       const RestoreOptions& options, RestoreProgress* progress,
                                       const WarningSink& warn);

}  // namespace repo
