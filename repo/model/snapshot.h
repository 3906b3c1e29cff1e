// Snapshot records (snapshots/<id>, ObjectKind::kSnapshot; docs/format.md, "Snapshot").
//
// A snapshot names the root tree of one backup and says when, where and of what it was taken.
// It is written last, after every blob it reaches is durable and indexed, so a snapshot that
// exists is always complete. Snapshots are immutable; changing tags writes a new record (with
// `original` pointing at the first) and deletes the old one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/store/metadata_store.h"
#include "repo/store/repository.h"

namespace repo {

struct SnapshotSummary {
  uint64_t files_new = 0, files_changed = 0, files_unchanged = 0;
  uint64_t dirs_new = 0, dirs_changed = 0, dirs_unchanged = 0;
  uint64_t data_blobs = 0, tree_blobs = 0;  // blobs added (not deduplicated)
  uint64_t bytes_read = 0;                  // file bytes read from the source
  uint64_t bytes_processed = 0;             // logical size of everything in the snapshot
  uint64_t bytes_added = 0;  // sealed bytes added to packs (after dedup and compression)
  uint64_t errors = 0;       // files or directories that could not be read
  int64_t duration_ns = 0;
  friend bool operator==(const SnapshotSummary&, const SnapshotSummary&) = default;
};

struct Snapshot {
  int64_t time_ns = 0;  // when the snapshot started, ns since the epoch
  std::string hostname, username;
  std::vector<std::string> paths;  // as given, made absolute; for --stdin: the file name
  std::vector<std::string> tags;
  std::vector<Id> tree;  // the root tree's blobs
  std::optional<Id> parent;
  std::optional<Id> original;  // set when tags were changed: the snapshot first written
  std::string program_version;
  SnapshotSummary summary;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

inline constexpr uint8_t kSnapshotVersion = 1;

Bytes EncodeSnapshotPayload(const Snapshot& s);
Result<Snapshot> DecodeSnapshotPayload(ByteSpan payload, const std::string& what);

// A snapshot and its id (the file id of its record).
struct SnapshotRef {
  Id id;
  Snapshot snapshot;
};

// Seals and writes `s`; returns its id.
Result<Id> WriteSnapshot(const MetadataStore& metadata, const Snapshot& s);
Result<Snapshot> ReadSnapshot(const MetadataStore& metadata, const Id& id);
// Every snapshot of `repo`, oldest first (one removed while listing is skipped). One listing of
// snapshots/; the records are taken from the local snapshot cache (Repository::CacheDir(),
// "snapshots"; docs/format.md, "Local cache") where it has them, each checked against its name
// and opened with the repository key like a record read from the repository, so a damaged or
// forged cache entry is read again from the repository, never trusted. Records not in the cache
// are read from the repository and added to it; records gone from the repository leave it. A
// cache that cannot be read or written costs only the reads.
Result<std::vector<SnapshotRef>> ListSnapshots(Repository& repo);

// Which snapshots a command means.
struct SnapshotFilter {
  std::vector<std::string> hosts;  // any of; empty: all
  std::vector<std::string> tags;   // each entry "a,b" means a AND b; entries are ORed
  std::vector<std::string> paths;  // the snapshot must have all of these paths
  bool Matches(const Snapshot& s) const;
};

// Resolves "latest" (the newest matching `filter`) or a unique id prefix (≥ 4 hex digits, any
// case). An id names its snapshot whatever the filter says, as in restic.
// NotFound / InvalidArgument (ambiguous) with a message naming `ref`.
Result<SnapshotRef> FindSnapshot(const std::vector<SnapshotRef>& all, const std::string& ref,
                                 const SnapshotFilter& filter);

// The snapshots a command works on: each of `refs` resolved (duplicates dropped, order kept), or
// every snapshot matching `filter` when `refs` is empty (oldest first).
Result<std::vector<SnapshotRef>> SelectSnapshots(const std::vector<SnapshotRef>& all,
                                                 const std::vector<std::string>& refs,
                                                 const SnapshotFilter& filter);

}  // namespace repo
