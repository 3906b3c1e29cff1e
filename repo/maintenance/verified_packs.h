// The local record of when `repo check` last read each pack whole and found every blob in it
// sound (docs/format.md, "Local cache"): what `--read-data-max-bytes/-time` reads first (packs
// never read, then those read longest ago), so that a daily job with a budget covers the whole
// repository in turn. Kept per repository in the local cache directory; losing it costs only the
// order (every pack counts as never read).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "base/id.h"
#include "base/status.h"

namespace repo {

using VerifiedPacks = std::unordered_map<Id, int64_t, IdHash>;  // pack -> Unix seconds

// The record at `path`: empty if the file is missing, unreadable or malformed.
VerifiedPacks LoadVerifiedPacks(const std::string& path);
// Replaces the record at `path` (written beside it, then renamed over it).
Status SaveVerifiedPacks(const std::string& path, const VerifiedPacks& packs);

}  // namespace repo
