// `repo check`: the repository audit (docs/design.md, "Check").
//
// The structure pass: the index files decode; each agrees with the headers of the packs it
// names; no pack an index file names is missing; every snapshot record opens; every tree a
// snapshot reaches decodes; every blob they reference is in the index, in a pack that is there
// and whose header lists it. Damage is reported as what a user loses: for each snapshot, the
// files (and directories) whose content is gone, found in the same walk that checks the trees.
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

struct CheckProgress {
  enum Phase : int { kIndex, kPacks, kSnapshots, kTrees };
  std::atomic<int> phase{kIndex};
  // Items of the current phase: index files, packs, snapshot records, snapshots walked.
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
  uint64_t index_files = 0;
  uint64_t packs = 0;           // packs whose header was read and compared
  uint64_t snapshots = 0;       // snapshot records read
  uint64_t directories = 0;     // distinct directory listings walked
  uint64_t data_blob_refs = 0;  // content references looked up (distinct per listing)
  std::vector<Id> unreferenced_packs;
  std::vector<std::string> errors;  // one line each, naming what failed
  std::vector<DamagedSnapshot> damaged;
  bool ok() const { return errors.empty(); }
};

// Most damaged paths listed per snapshot (and per directory in the walk); the rest are counted.
inline constexpr size_t kMaxDamagedPaths = 10000;

// Checks the structure of `repo`. Damage goes into the report; the returned status is an error
// only when the check itself cannot go on (the storage fails with something other than a
// missing or corrupt file, or a file is of a newer format).
Result<CheckReport> CheckRepository(Repository& repo, CheckProgress* progress);

}  // namespace repo
