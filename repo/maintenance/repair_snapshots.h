// `repo repair snapshots`: new snapshot records whose trees leave out what is lost.
//
// The lost content is what `repo check` finds (CheckReport::lost_blobs, and listings or content
// lists that cannot be read). In every snapshot that reaches some, each listing holding it is
// written anew: a file that lost pieces is truncated at its first lost byte (the bytes before it
// are kept), a file whose content list cannot be read is kept empty, a directory whose listing
// cannot be read is left out; each is noted. Listings without damage keep their tree blobs. The
// new record is the old one with the new tree, `original` set to the snapshot first written,
// the tag "repaired", and its time one nanosecond after the original's (so that `latest` and
// forget's rules see it as the newer of the two); the old record stays unless asked to remove it.
// Nothing stored is changed or removed: only tree blobs and records are added.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/snapshot.h"
#include "repo/store/repository.h"
#include "repo/store/session.h"

namespace repo {

struct RepairedSnapshot {
  Id old_id;
  std::optional<Id> new_id;        // unset: a dry run, or the root listing is lost
  bool root_lost = false;          // nothing to keep: not repaired
  std::vector<std::string> notes;  // per path: what was cut
};

struct RepairSnapshotsOptions {
  bool forget = false;   // remove the damaged snapshots' records once their repair is written
  bool dry_run = false;  // say what would be cut, write nothing
};

// Repairs `snapshots` given the lost data blobs `lost` (sorted). Records are written (and with
// `forget` removed) through `session`'s Commit. Returns one entry per snapshot that lost
// something.
Result<std::vector<RepairedSnapshot>> RepairSnapshots(Repository& repo, Session* session,
                                                      const std::vector<SnapshotRef>& snapshots,
                                                      const std::vector<Id>& lost,
                                                      const RepairSnapshotsOptions& options);

}  // namespace repo
