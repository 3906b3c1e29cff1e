#include "repo/maintenance/repair_packs.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include "repo/store/blob_codec.h"
#include "repo/store/metadata_store.h"
#include "repo/store/pack.h"

namespace repo {
namespace {

// What the readable index files say about the packs being repaired.
struct IndexView {
  // The files to replace: those naming one of the packs (not replaced ones), and every file
  // still there that another replaces (an interrupted replacement's leftovers: once the files
  // replacing them are replaced in turn, nothing would name them any more).
  std::vector<Id> old;
  std::vector<IndexEntry> kept;              // the naming files' entries in other packs
  std::map<Id, std::vector<IndexEntry>> of;  // pack -> its entries in those files
  std::unordered_set<Id, IdHash> replaced;   // files some file replaces
  std::set<std::pair<Id, Id>> removed;       // (blob, pack) some file removes
  uint64_t unreadable = 0;
};

// Reads every index file once, keeping whole only those that name a pack of `targets` (what a
// file replaced by another still there says, the other says too).
Result<IndexView> ReadIndexView(Repository& repo, const std::set<Id>& targets) {
  IndexView view;
  ASSIGN_OR_RETURN(std::vector<FileInfo> listed, repo.backend().List(FileType::kIndex));
  std::vector<Id> present;
  std::vector<std::pair<Id, IndexFile>> naming;
  for (const FileInfo& f : listed) {
    const std::optional<Id> id = Id::ParseHex(f.name);
    if (!id) continue;
    auto file = repo.ReadIndexFile(*id);
    if (!file.ok()) {
      if (file.status().IsNotFound()) continue;  // replaced since the listing
      if (!IsDamage(file.status())) return file.status();
      ++view.unreadable;
      continue;
    }
    present.push_back(*id);
    view.replaced.insert(file->supersedes.begin(), file->supersedes.end());
    for (const RemovedEntry& r : file->removed) view.removed.emplace(r.blob, r.pack);
    const bool names = std::any_of(file->entries.begin(), file->entries.end(),
                                   [&](const IndexEntry& e) { return targets.count(e.loc.pack); });
    if (names) naming.emplace_back(*id, std::move(*file));
  }
  for (auto& [id, file] : naming) {
    if (view.replaced.count(id)) continue;
    view.old.push_back(id);
    for (const IndexEntry& e : file.entries) {
      (targets.count(e.loc.pack) ? view.of[e.loc.pack] : view.kept).push_back(e);
    }
  }
  if (!view.old.empty()) {
    for (const Id& id : present) {
      if (view.replaced.count(id)) view.old.push_back(id);
    }
  }
  return view;
}

// For each of `lost` (sorted) that a pack not being repaired holds, one that is there, by a file
// in force (not replaced, the entry not removed): that entry, so that the replacing index file
// keeps it findable (the cache holds one place per blob, and removing the damaged pack's entry
// would otherwise remove the blob).
Result<std::vector<IndexEntry>> FindElsewhere(Repository& repo, const std::vector<Id>& lost,
                                              const std::set<Id>& targets, const IndexView& view) {
  std::map<Id, IndexEntry> found;
  ASSIGN_OR_RETURN(std::vector<FileInfo> listed, repo.backend().List(FileType::kIndex));
  std::set<Id> packs_there, packs_gone;
  for (const FileInfo& f : listed) {
    const std::optional<Id> id = Id::ParseHex(f.name);
    if (!id || view.replaced.count(*id)) continue;
    auto file = repo.ReadIndexFile(*id);
    if (!file.ok()) {
      if (IsDamage(file.status())) continue;  // counted by ReadIndexView
      return file.status();
    }
    for (const IndexEntry& e : file->entries) {
      if (targets.count(e.loc.pack) || found.count(e.blob) ||
          !std::binary_search(lost.begin(), lost.end(), e.blob) || packs_gone.count(e.loc.pack) ||
          view.removed.count({e.blob, e.loc.pack})) {
        continue;
      }
      if (!packs_there.count(e.loc.pack)) {
        auto st = repo.backend().Stat({FileType::kPack, e.loc.pack.Hex()});
        if (!st.ok() && !st.status().IsNotFound()) return st.status();
        (st.ok() ? packs_there : packs_gone).insert(e.loc.pack);
        if (!st.ok()) continue;
      }
      found.emplace(e.blob, e);
    }
  }
  std::vector<IndexEntry> entries;
  for (auto& [blob, e] : found) entries.push_back(e);
  return entries;
}

// Copies sealed blobs into new packs of about the repository's pack size.
class Salvager {
 public:
  Salvager(Repository& repo, bool dry_run)
      : repo_(repo), dry_run_(dry_run), writer_(repo.keys().enc_key) {}

  Status Add(const IndexEntry& e, ByteSpan sealed) {
    EncodedBlob blob{Bytes(sealed.begin(), sealed.end()), e.loc.flags, e.loc.raw_length};
    writer_.Add(e.loc.type, e.blob, blob);
    if (writer_.size() >= repo_.config().pack_size) return Write();
    return Status::OK();
  }

  // Writes the pack being filled, if it holds anything.
  Status Write() {
    if (writer_.count() == 0) return Status::OK();
    ASSIGN_OR_RETURN(FinishedPack pack, writer_.Finish());
    if (!dry_run_) {
      Status s = repo_.backend().Write({FileType::kPack, pack.id.Hex()}, pack.bytes);
      if (!s.ok() && s.code() != StatusCode::kAlreadyExists) {
        return s.WithContext("writing pack " + pack.id.ShortHex());
      }
    }
    packs_.push_back(pack.id);
    entries_.insert(entries_.end(), pack.entries.begin(), pack.entries.end());
    return Status::OK();
  }

  std::vector<Id>& packs() { return packs_; }
  std::vector<IndexEntry>& entries() { return entries_; }

 private:
  Repository& repo_;
  const bool dry_run_;
  PackWriter writer_;
  std::vector<Id> packs_;
  std::vector<IndexEntry> entries_;
};

}  // namespace

Result<RepairPacksReport> RepairPacks(Repository& repo, Session* session, std::span<const Id> packs,
                                      const RepairPacksOptions& options) {
  RepairPacksReport report;
  const std::set<Id> asked(packs.begin(), packs.end());
  ASSIGN_OR_RETURN(IndexView view, ReadIndexView(repo, asked));
  report.unreadable_index_files = view.unreadable;

  Salvager salvager(repo, options.dry_run);
  std::unordered_set<Id, IdHash> copied;  // a blob held by two damaged packs is copied once
  struct Unreadable {
    SalvagedPack* pack;
    Id blob;
    std::string why;
  };
  std::vector<Unreadable> unreadable;
  std::set<Id> repaired;  // packs salvaged (and deleted at the end)
  std::vector<RemovedEntry> removed;
  Bytes bytes;
  report.packs.reserve(packs.size());  // Unreadable points into it
  std::set<Id> seen;
  for (const Id& pack : packs) {
    if (!seen.insert(pack).second) continue;  // named twice
    SalvagedPack& out = report.packs.emplace_back();
    out.pack = pack;
    auto indexed = view.of.find(pack);
    if (indexed == view.of.end()) {
      out.skipped = "no readable index file names it: nothing relies on it";
      continue;
    }
    Status read =
        repo.backend().ReadInto({FileType::kPack, pack.Hex()}, 0, Backend::kToEnd, &bytes);
    if (read.IsNotFound()) {
      out.skipped = "missing: nothing to salvage (`repo repair index` drops its entries)";
      continue;
    }
    if (!read.ok() && !read.IsCorruption()) return read;
    if (!read.ok()) bytes.clear();  // unreadable as a whole: every blob is lost
    repaired.insert(pack);
    for (const IndexEntry& e : indexed->second) removed.push_back({e.blob, pack});
    // Where its blobs are: its header, else what the index files say.
    auto header = DecodePackHeader(repo.keys().enc_key, pack, bytes, bytes.size());
    if (!header.ok() && !IsDamage(header.status())) return header.status();
    if (!header.ok()) out.header_error = header.status().message();
    const std::vector<IndexEntry>& entries = header.ok() ? *header : indexed->second;
    out.blobs = entries.size();
    for (const IndexEntry& e : entries) {
      const BlobLocation& loc = e.loc;
      if (copied.count(e.blob)) {
        ++out.salvaged;
        continue;
      }
      std::string why = "beyond the end of the pack (" + std::to_string(bytes.size()) + " bytes)";
      if (uint64_t{loc.offset} + loc.length <= bytes.size()) {
        const ByteSpan sealed = ByteSpan(bytes).subspan(loc.offset, loc.length);
        auto plain = DecodeBlob(repo.keys(), loc.type, e.blob, loc.flags, loc.raw_length, sealed);
        if (plain.ok()) {
          RETURN_IF_ERROR(salvager.Add(e, sealed));
          copied.insert(e.blob);
          ++out.salvaged;
          continue;
        }
        why = plain.status().message();
      }
      unreadable.push_back({&out, e.blob, std::move(why)});
    }
    // Blobs the index says are in it that its (readable) header does not list are lost too.
    if (header.ok()) {
      std::unordered_set<Id, IdHash> listed;
      for (const IndexEntry& e : *header) listed.insert(e.blob);
      for (const IndexEntry& e : indexed->second) {
        if (!listed.count(e.blob) && !copied.count(e.blob)) {
          unreadable.push_back({&out, e.blob, "not in the pack's header"});
        }
      }
    }
  }
  RETURN_IF_ERROR(salvager.Write());

  // The unreadable blobs: held elsewhere (copied from another damaged pack, or in a sound one),
  // or lost.
  std::vector<Id> missing;
  for (const Unreadable& u : unreadable) {
    if (!copied.count(u.blob)) missing.push_back(u.blob);
  }
  std::sort(missing.begin(), missing.end());
  missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
  std::vector<IndexEntry> elsewhere;
  if (!missing.empty()) {
    ASSIGN_OR_RETURN(elsewhere, FindElsewhere(repo, missing, asked, view));
  }
  std::unordered_set<Id, IdHash> held;
  for (const IndexEntry& e : elsewhere) held.insert(e.blob);
  for (const Unreadable& u : unreadable) {
    if (copied.count(u.blob) || held.count(u.blob)) {
      ++u.pack->elsewhere;
      continue;
    }
    if (u.pack->lost++ == 0) u.pack->first_loss = u.why;
  }
  for (const Id& blob : missing) {
    if (!held.count(blob)) report.lost_blobs.push_back(blob);
  }
  if (!options.dry_run) report.new_packs = salvager.packs();
  if (options.dry_run || repaired.empty()) return report;

  // The new packs are durable: the index files naming the damaged ones are replaced, then the
  // damaged packs go. Entries of packs asked for but not repaired (missing) stay as they were.
  std::vector<IndexEntry> entries = std::move(view.kept);
  for (const auto& [pack, of] : view.of) {
    if (!repaired.count(pack)) entries.insert(entries.end(), of.begin(), of.end());
  }
  entries.insert(entries.end(), salvager.entries().begin(), salvager.entries().end());
  entries.insert(entries.end(), elsewhere.begin(), elsewhere.end());
  std::vector<Id> written;
  auto replace = [&] {
    return repo.ReplaceIndexFiles(view.old, std::move(entries), std::move(removed), &written);
  };
  RETURN_IF_ERROR(session ? session->Commit(replace) : replace());
  report.index_files_written = written.size();
  report.index_files_replaced = view.old.size();
  for (const Id& pack : repaired) {
    Status s = repo.backend().Delete({FileType::kPack, pack.Hex()});
    if (!s.ok() && !s.IsNotFound())
      return s.WithContext("deleting damaged pack " + pack.ShortHex());
  }
  RETURN_IF_ERROR(repo.RefreshIndex());
  return report;
}

}  // namespace repo
