// `repo repair packs`: salvages what can still be read from damaged packs (docs/design.md,
// "Repairing packs").
//
// Each pack is read whole. Its blobs are found where its header says or, when the header does not
// open, where the index files say; every blob that authenticates and hashes to its id is copied,
// sealed as it is (a blob's seal binds only its type and id), into a new pack. Then index files are
// written that replace those naming the damaged packs: the new packs' entries in, the damaged
// packs' entries removed (a blob that could not be read, but that another pack also holds, keeps
// that pack's entry). Only then are the damaged packs deleted.
//
// Each step is durable before the next, so a crash leaves either the old state plus new packs no
// index names, or the new state plus damaged packs no index names: nothing is ever lost that was
// readable, and what no index names is harmless (prune removes it). A pack no readable index file
// names is left alone (a running writer may be about to index it); a missing pack has nothing to
// salvage (`repo repair index` drops its entries).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/store/repository.h"
#include "repo/store/session.h"

namespace repo {

struct SalvagedPack {
  Id pack;
  // Why it was not salvaged: missing, or no readable index file names it ("" if it was).
  std::string skipped;
  std::string header_error;  // its header did not open: its blobs were found by the index
  uint64_t blobs = 0;        // blobs known to be in it
  uint64_t salvaged = 0;     // read sound and copied into a new pack
  uint64_t elsewhere = 0;    // not readable here, but another pack holds them
  uint64_t lost = 0;         // not readable here, and in no other pack
  std::string first_loss;    // why the first lost blob could not be read
};

struct RepairPacksReport {
  std::vector<SalvagedPack> packs;  // in the order asked, each once
  std::vector<Id> new_packs;
  uint64_t index_files_written = 0;
  uint64_t index_files_replaced = 0;
  // Index files that do not open: not used, not replaced (`repo repair index` after this).
  uint64_t unreadable_index_files = 0;
  std::vector<Id> lost_blobs;  // sorted
};

struct RepairPacksOptions {
  bool dry_run = false;  // read and say what would be salvaged and lost; write nothing
};

// Salvages `packs` (see above). The index files are replaced through `session`'s Commit (not
// with `dry_run`). The index cache is brought up to date afterwards, so a check run next on
// `repo` sees the repair.
Result<RepairPacksReport> RepairPacks(Repository& repo, Session* session, std::span<const Id> packs,
                                      const RepairPacksOptions& options);

}  // namespace repo
