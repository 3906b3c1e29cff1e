// Size figures for `repo stats`: what snapshots would restore to, what they store, and what the
// repository holds.
//
// Every distinct directory (by tree blob ids) is loaded once per collection however many
// snapshots share it, so thirty nightly snapshots of a mostly unchanged tree cost little more
// than one. Memory: one entry per distinct directory, plus (for raw data) the set of distinct
// blob ids referenced.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "repo/model/snapshot.h"
#include "repo/storage/backend.h"
#include "repo/store/blob_store.h"

namespace repo {

// What restoring a snapshot yields. Summed over snapshots, each counted in full.
struct RestoreSize {
  uint64_t files = 0;   // regular files; a hard-linked file once per snapshot
  uint64_t dirs = 0;    // directories below the root
  uint64_t others = 0;  // symlinks, devices, fifos, sockets
  uint64_t bytes = 0;   // logical file sizes (holes of sparse files included)
};

// Distinct blobs of one type and their sizes according to the index.
struct BlobTotals {
  uint64_t count = 0;
  uint64_t raw_bytes = 0;     // plaintext sizes (raw_length)
  uint64_t stored_bytes = 0;  // sealed sizes in packs, after compression and encryption
};

struct SnapshotStats {
  uint64_t snapshots = 0;
  RestoreSize restore;
  // Only with raw data requested: the distinct blobs the snapshots reference (a blob shared by
  // many files or snapshots counts once).
  BlobTotals data, tree;
  uint64_t blobs_missing = 0;  // referenced but in no index file: `repo check` will say more
};

// Walks `snapshots` and sums their restore sizes; with `raw_data`, also collects the distinct
// blobs they reference and looks their sizes up in the index. Stops at the first tree blob that
// cannot be read or decoded (the error names the snapshot).
Result<SnapshotStats> CollectSnapshotStats(BlobStore& store,
                                           const std::vector<SnapshotRef>& snapshots,
                                           bool raw_data);

// The whole repository, from file listings only (no decryption).
struct RepositoryTotals {
  uint64_t snapshots = 0;
  uint64_t packs = 0;
  uint64_t pack_bytes = 0;  // file sizes of all packs, headers included
  uint64_t index_files = 0;
};
Result<RepositoryTotals> CollectRepositoryTotals(Backend& backend);

}  // namespace repo
