// `repo check`: the repository audit (docs/design.md, "Check").
//
// The structure pass: the index files decode; each agrees with the headers of the packs it
// names; no pack an index file names is missing; every snapshot record opens; every tree a
// snapshot reaches decodes; every blob they reference is in the index, in a pack that is there
// and whose header lists it. With --read-data, the packs chosen are also read whole: the header
// opens, and every blob in it opens, decompresses and hashes to its id. Damage is reported as what
// a user loses: for each snapshot, the files (and directories) whose content is gone, found in the
// same walk that checks the trees.
//
// A check is a reader: it registers no session and runs beside writers. It lists the index
// before the packs, so a pack that a finished writer indexed is never taken for missing; a pack
// no index file names (a running writer's, or an interrupted one's) is reported as unreferenced,
// not as an error; and a blob not found is looked up again after the index is re-listed before
// it is called missing.
//
// Memory: the packs (one entry each), one entry per distinct directory listing and content list
// walked (each is read once however many snapshots share it), and the damage found. Blob ids are
// looked up in batches in the local index cache, never collected.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/snapshot.h"
#include "repo/store/repository.h"

namespace repo {

struct CheckOptions {
  // Packs whose every blob is read, authenticated, decompressed and re-hashed (`--read-data`):
  // none (the structure pass only), all, the n-th of m slices by pack id (1-based; 1/m ... m/m
  // cover every pack once), or about `percent` of them picked at random.
  // kBudget: the packs read whole least recently (never first; remembered in the local cache,
  // verified_packs.h), up to `budget_bytes` of packs and/or `budget_seconds` of reading (0: no
  // such bound).
  enum class ReadData { kNone, kAll, kSubset, kPercent, kBudget };
  ReadData read_data = ReadData::kNone;
  uint32_t subset_n = 0, subset_m = 0;
  double percent = 0;
  uint64_t budget_bytes = 0;
  int64_t budget_seconds = 0;
  int threads = 0;  // readers of --read-data; 0: one per core
};

// Whether pack `id` is in slice n of m (1 <= n <= m): by its id's first four bytes, so the slices
// of one m are disjoint, cover every pack, and are the same from run to run.
bool InReadDataSubset(const Id& id, uint32_t n, uint32_t m);

struct CheckProgress {
  enum Phase : int { kIndex, kPacks, kReadData, kSnapshots, kTrees, kRefs, kDamage };
  std::atomic<int> phase{kIndex};
  // Items of the current phase: index files, packs, packs read, snapshot records, snapshots
  // walked, distinct content references looked up, snapshots walked again to name the damaged
  // paths.
  std::atomic<uint64_t> done{0}, total{0};
};

// A file or directory of a snapshot that lost content.
struct DamagedPath {
  std::string path;  // absolute in the snapshot; a directory's ends in "/"
  // A directory whose listing could not be read (nothing below it can be restored); else a file.
  bool listing = false;
  uint64_t blobs = 0;         // file: content blobs lost
  uint64_t bytes = 0;         // file: bytes they held
  uint64_t first_offset = 0;  // file: where in the file the first lost byte is
  std::string why;            // directory: the error; file: why its first lost blob is lost
};

struct DamagedSnapshot {
  Id id;
  Snapshot snapshot;
  std::vector<DamagedPath> paths;  // in walk order (name order, depth first)
  uint64_t more_paths = 0;         // damaged paths beyond those listed (kMaxDamagedPaths)
};

struct CheckReport {
  uint64_t keys = 0;  // key files whole and readable
  uint64_t index_files = 0;
  uint64_t unreadable_index_files = 0;  // reported as errors; what they list counts as missing
  uint64_t lost_packs = 0;              // missing, or their header unreadable
  uint64_t packs = 0;           // packs whose header was read and compared
  uint64_t snapshots = 0;       // snapshot records read
  uint64_t directories = 0;     // distinct directory listings walked
  uint64_t data_blob_refs = 0;  // content references looked up (distinct per listing)
  uint64_t packs_read = 0;      // --read-data: packs read whole
  uint64_t bytes_read = 0;      // their bytes
  uint64_t blobs_read = 0;      // blobs in them opened and re-hashed
  // --read-data (any form), after this run: listed packs this host's cache has never seen read
  // whole and sound, and when the least recently read of the others was (Unix seconds; 0: none).
  uint64_t never_read_packs = 0;
  int64_t oldest_read_s = 0;
  std::vector<std::string> notes;  // said, but not errors
  std::vector<Id> unreferenced_packs;  // sorted
  // Packs that are there but damaged: the header does not open, or --read-data found blobs in it
  // that do not (what `repair packs` salvages). In the order found.
  std::vector<Id> damaged_packs;
  std::vector<std::string> errors;  // one line each, naming what failed (the first kMaxErrors)
  uint64_t more_errors = 0;         // errors beyond those listed
  std::vector<DamagedSnapshot> damaged;
  // Data blobs found lost (not in the index, in a missing or unreadable pack, not where the index
  // says, or damaged): what `repair snapshots` cuts out. As many as the damage.
  std::vector<Id> lost_blobs;
  bool ok() const { return errors.empty(); }
};

// Most error lines kept; the rest are counted.
inline constexpr size_t kMaxErrors = 10000;
// Most damaged paths listed per snapshot (and per directory in the walk); the rest are counted.
inline constexpr size_t kMaxDamagedPaths = 10000;

// Checks the structure of `repo`, and reads the packs `options` asks for. Damage goes into the
// report; the returned status is an error only when the check itself cannot go on (the storage
// fails with something other than a missing or corrupt file, or a file is of a newer format). An
// index file that does not open is reported and skipped (Repository::TolerateDamagedIndex): call
// before anything else calls repo.blobs().
Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options,
                                    CheckProgress* progress);

}  // namespace repo
