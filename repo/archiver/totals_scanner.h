// The totals scan: a stat-only pass over the snapshot's paths, run beside the walk when someone
// watches the progress, so that it can show totals and an ETA. It costs a second pass over the
// metadata, which is why it runs only on request (ArchiverProgress::want_totals).
#pragma once

#include <string>
#include <vector>

#include "repo/archiver/archiver.h"
#include "repo/archiver/exclude_rules.h"

namespace repo {

// Counts the regular files under `paths` and their bytes into progress->total_files and
// total_bytes as it goes, applying `rules` as the walk does, then sets progress->scan_done.
// Best effort: whatever cannot be stat'ed, opened or listed is not counted. Descends no deeper
// than the walk may (WalkDepthLimit). Runs on its own thread; holds one directory fd per level.
// REQUIRES: `paths` absolute and lexically normal; `progress` not null.
void ScanTotals(const std::vector<std::string>& paths, const ExcludeRules& rules,
                ArchiverProgress* progress);

}  // namespace repo
