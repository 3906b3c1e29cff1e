// `repo forget`: which snapshots a retention policy keeps, and removing the others' records.
//
// The policy is restic's: snapshots are grouped (by default by host and paths); in each group,
// newest first, --keep-last N keeps the N newest; --keep-hourly/daily/weekly/monthly/yearly N
// keep the newest snapshot of each of the N newest hours (days, ISO weeks, months, years, in local
// time) that have one; --keep-within D keeps those taken within D of the group's newest;
// --keep-tag T keeps those tagged T. A snapshot is kept if any rule keeps it, and the report says
// which rules did. Forget removes snapshot records only: the data they alone reference stays until
// prune (a later command) removes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "repo/model/snapshot.h"
#include "repo/store/metadata_store.h"

namespace repo {

struct RetentionPolicy {
  int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  int64_t within_ns = 0;                       // 0: no --keep-within
  std::vector<std::vector<std::string>> tags;  // each: a snapshot with all of these is kept
  bool empty() const {
    return last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 &&
           within_ns == 0 && tags.empty();
  }
};

// What snapshots are grouped by: any of host, paths, tags (none: one group).
struct GroupBy {
  bool host = true, paths = true, tags = false;
};
// Parses "host,paths", "host", "paths,tags", "" ... InvalidArgument naming --group-by otherwise.
Result<GroupBy> ParseGroupBy(const std::string& text);

struct ForgetDecision {
  SnapshotRef snapshot;
  bool keep = false;
  std::vector<std::string> reasons;  // "last snapshot", "daily snapshot", "within 30d", "tag x"
};

struct ForgetGroup {
  // The group's key: set for the fields grouped by.
  std::string host;
  std::vector<std::string> paths, tags;
  std::vector<ForgetDecision> snapshots;  // newest first
};

// Applies `policy` to `snapshots` grouped by `group_by`. Groups in order of their newest snapshot
// (newest first). REQUIRES: !policy.empty().
std::vector<ForgetGroup> ApplyPolicy(const std::vector<SnapshotRef>& snapshots,
                                     const RetentionPolicy& policy, const GroupBy& group_by);

// Removes the record of snapshot `id` (one already gone is not an error: another forget or a
// tag change removed it).
Status RemoveSnapshot(const MetadataStore& metadata, const Id& id);

}  // namespace repo
