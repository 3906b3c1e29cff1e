// Changing the tags of a snapshot (`repo tag`).
//
// A snapshot record is immutable and named by the hash of its bytes, so new tags mean a new
// record with a new id. RetagSnapshot writes the new record durably first and deletes the old
// one second: a crash in between leaves both, two snapshots of the same tree that differ only in
// tags (harmless; `repo forget` or another `repo tag` tidies up). The new record keeps every
// field but the tags, and sets `original` to the id the snapshot was first written under, so a
// snapshot keeps its identity across any number of tag changes. `time_ns` is unchanged, so
// `latest` still means the same snapshot.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/snapshot.h"

namespace repo {

struct TagEdit {
  std::optional<std::vector<std::string>> set;  // replaces every tag (applied first)
  std::vector<std::string> add;                 // then appended, unless already present
  std::vector<std::string> remove;              // then removed
  bool empty() const { return !set && add.empty() && remove.empty(); }
};

// Splits arguments like "a,b" into tags, in order, dropping empty pieces.
std::vector<std::string> SplitTagList(const std::vector<std::string>& args);

// The tags `tags` become under `edit`: order kept, new tags appended, duplicates dropped.
std::vector<std::string> ApplyTagEdit(const std::vector<std::string>& tags, const TagEdit& edit);

struct RetagResult {
  Id old_id;
  Id new_id;             // == old_id when nothing changed
  bool changed = false;  // false: the tags were already as requested; nothing was written
  Snapshot snapshot;     // the record now in the repository
};

// Applies `edit` to snapshot `ref`: writes the new record, then deletes the old one (a record
// already gone, e.g. retagged by another process meanwhile, is not an error). Writes nothing
// when the tags would not change. On a failed write the old record is untouched.
Result<RetagResult> RetagSnapshot(const MetadataStore& metadata, const SnapshotRef& ref,
                                  const TagEdit& edit);

}  // namespace repo
