// repo repair index: rebuild the index files and the cache from pack headers; repo repair
// snapshots: new records whose trees leave out what is lost.
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/maintenance/check.h"
#include "repo/maintenance/forget.h"
#include "repo/maintenance/repair_packs.h"
#include "repo/maintenance/repair_snapshots.h"

namespace repo::cli {

void RepairOptionsSpec(cxxopts::Options& o) { AddSessionOptions(o); }

int RunRepairIndex(Context& ctx) {
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  // Maintenance: never beside another repair (or, later, prune); writers go on meanwhile.
  auto session = BeginSession(**repo, ctx, SessionKind::kMaintenance, "repair index");
  if (!session.ok()) return Fail(session.status());
  auto report = (*repo)->RepairIndex();
  if (!report.ok()) return Fail(report.status());
  if (ctx.global.json) {
    std::vector<std::string> bad;
    for (const std::string& b : report->bad_packs) bad.push_back(JsonQuote(b));
    Print(JsonObject()
              .Int("packs_read", static_cast<int64_t>(report->packs_read))
              .Int("blobs_indexed", static_cast<int64_t>(report->blobs_indexed))
              .Int("index_files_written", static_cast<int64_t>(report->index_files_written))
              .Int("index_files_removed", static_cast<int64_t>(report->index_files_removed))
              .Raw("bad_packs", JsonArray(bad))
              .Build());
  } else {
    for (const std::string& b : report->bad_packs) {
      std::fprintf(stderr, "repo: warning: %s (not indexed)\n", b.c_str());
    }
    if (ctx.global.verbosity >= 0) {
      Print("read " + std::to_string(report->packs_read) + " packs, indexed " +
            std::to_string(report->blobs_indexed) + " blobs in " +
            std::to_string(report->index_files_written) + " index files, removed " +
            std::to_string(report->index_files_removed) + " old index files");
    }
  }
  // Unreadable packs mean the repository is damaged even though the index is now consistent.
  return report->bad_packs.empty() ? kExitOk : kExitDamaged;
}

}  // namespace repo::cli

// repo repair snapshots: new records whose trees leave out what is lost.
namespace repo::cli {

void RepairSnapshotsOptionsSpec(cxxopts::Options& o) {
  AddSessionOptions(o);
  o.add_options("repair snapshots")(
      "read-data", "also read every pack whole to find damaged content (as check --read-data)")(
      "forget", "remove each damaged snapshot's record once its repaired one is written")(
      "n,dry-run", "say what would be cut, write nothing")("no-progress",
                                                           "no status line on a terminal");
}

int RunRepairSnapshots(Context& ctx) {
  RepairSnapshotsOptions options;
  options.forget = ctx.args.count("forget") > 0;
  options.dry_run = ctx.args.count("dry-run") > 0;
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto session = BeginSession(**repo, ctx, SessionKind::kMaintenance, "repair snapshots");
  if (!session.ok()) return Fail(session.status());
  CheckOptions check;
  if (ctx.args.count("read-data")) check.read_data = CheckOptions::ReadData::kAll;
  auto report = CheckWithProgress(ctx, **repo, check);
  if (!report.ok()) return Fail(report.status().WithContext("finding what is lost"));
  if (report->unreadable_index_files > 0) {
    return Fail(Status::Corruption(
        std::to_string(report->unreadable_index_files) +
        " index files cannot be read: run `repo repair index` first, so that what is lost is "
        "known"));
  }
  if (report->lost_packs > 0) {
    // New tree blobs could be deduplicated against entries of those packs: index them anew
    // first, so that nothing new refers to what is gone.
    return Fail(Status::Corruption(std::to_string(report->lost_packs) +
                                   " packs are missing or unreadable: run `repo repair packs` "
                                   "(salvages what can be read), then `repo repair index` "
                                   "first, so that no repaired snapshot refers to them"));
  }
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  // The snapshots named, if any were (ids or prefixes, as every command takes them).
  std::set<Id> named;
  if (!ctx.positional.empty()) {
    auto selected = SelectSnapshots(*all, ctx.positional, {});
    if (!selected.ok()) return Fail(selected.status());
    for (const SnapshotRef& s : *selected) named.insert(s.id);
  }
  // Snapshots repaired before by this command (tagged "repaired", naming their original): an
  // original with a repair that is not itself damaged is not repaired again.
  std::set<Id> damaged_ids;
  for (const DamagedSnapshot& d : report->damaged) damaged_ids.insert(d.id);
  std::map<Id, Id> sound_repair;  // original -> a repair of it that lost nothing
  for (const SnapshotRef& s : *all) {
    const auto& tags = s.snapshot.tags;
    if (s.snapshot.original && std::find(tags.begin(), tags.end(), "repaired") != tags.end() &&
        !damaged_ids.count(s.id)) {
      sound_repair[*s.snapshot.original] = s.id;
    }
  }
  std::vector<SnapshotRef> damaged;
  std::vector<std::string> items;  // --json
  for (const DamagedSnapshot& d : report->damaged) {
    if (!named.empty() && !named.count(d.id)) continue;
    auto before = sound_repair.find(d.snapshot.original.value_or(d.id));
    if (before == sound_repair.end()) {
      damaged.push_back({d.id, d.snapshot});
      continue;
    }
    const bool remove = options.forget && !options.dry_run;
    if (remove) {
      const MetadataStore metadata = (*repo)->metadata();
      Status gone = (*session)->Commit([&] { return RemoveSnapshot(metadata, d.id); });
      if (!gone.ok()) return Fail(gone.WithContext("removing snapshot " + d.id.ShortHex()));
    }
    if (ctx.global.json) {
      items.push_back(JsonObject()
                          .Str("snapshot", d.id.Hex())
                          .Str("repaired_before_as", before->second.Hex())
                          .Bool("removed", remove)
                          .Build());
    } else if (ctx.global.verbosity >= 0) {
      Print("snapshot " + d.id.ShortHex() + " was repaired before, as " +
            before->second.ShortHex() +
            (remove ? "; removed"
                    : " (`repair snapshots --forget` or `repo forget " + d.id.ShortHex() +
                          "` removes it)"));
    }
  }
  if (damaged.empty()) {
    if (ctx.global.json) {
      Print(
          JsonObject().Bool("dry_run", options.dry_run).Raw("snapshots", JsonArray(items)).Build());
    } else if (ctx.global.verbosity >= 0 && items.empty()) {
      Print("no snapshot lost data: nothing to repair");
    }
    return kExitOk;
  }
  auto repaired = RepairSnapshots(**repo, session->get(), damaged, report->lost_blobs, options);
  if (!repaired.ok()) return Fail(repaired.status());
  bool every_one = true;  // each damaged snapshot got (or, dry, would get) a repaired record
  for (const RepairedSnapshot& r : *repaired) {
    every_one &= r.new_id.has_value() || (options.dry_run && !r.root_lost);
    if (ctx.global.json) {
      std::vector<std::string> notes;
      for (const std::string& n : r.notes) notes.push_back(JsonQuote(n));
      JsonObject o;
      o.Str("snapshot", r.old_id.Hex());
      if (r.new_id) o.Str("repaired_as", r.new_id->Hex());
      items.push_back(o.Raw("notes", JsonArray(notes)).Build());
      continue;
    }
    Print("snapshot " + r.old_id.ShortHex() +
          (r.new_id ? " repaired as " + r.new_id->ShortHex() +
                          (options.forget ? " (the damaged one removed)" : "")
           : r.root_lost     ? " cannot be repaired"
           : options.dry_run ? " would be repaired"
                             : " cannot be repaired") +
          ":");
    for (const std::string& n : r.notes) Print("  " + n);
  }
  if (ctx.global.json) {
    Print(JsonObject().Bool("dry_run", options.dry_run).Raw("snapshots", JsonArray(items)).Build());
  }
  return every_one ? kExitOk : kExitDamaged;
}

}  // namespace repo::cli

// repo repair packs: salvage what can be read from damaged packs.
namespace repo::cli {

void RepairPacksOptionsSpec(cxxopts::Options& o) {
  AddSessionOptions(o);
  o.add_options("repair packs")(
      "n,dry-run", "read the packs and say what would be salvaged and lost; write nothing")(
      "no-progress", "no status line on a terminal");
}

int RunRepairPacks(Context& ctx) {
  RepairPacksOptions options;
  options.dry_run = ctx.args.count("dry-run") > 0;
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto session = BeginSession(**repo, ctx, SessionKind::kMaintenance, "repair packs");
  if (!session.ok()) return Fail(session.status());
  std::vector<Id> packs;
  for (const std::string& p : ctx.positional) {
    // A whole id is taken as it is: a pack gone meanwhile is then reported, not an error.
    if (std::optional<Id> whole = p.size() == 2 * Id::kSize ? Id::ParseHex(p) : std::nullopt) {
      packs.push_back(*whole);
      continue;
    }
    auto id = (*repo)->ResolvePrefix(FileType::kPack, p);
    if (!id.ok()) return Fail(id.status());
    packs.push_back(*id);
  }
  std::string nothing;  // why there was nothing to repair
  if (packs.empty()) {
    // Every pack read, as check --read-data reads them, to find the damaged ones.
    CheckOptions check;
    check.read_data = CheckOptions::ReadData::kAll;
    auto found = CheckWithProgress(ctx, **repo, check);
    if (!found.ok()) return Fail(found.status().WithContext("finding damaged packs"));
    packs = found->damaged_packs;
    if (packs.empty()) {
      nothing = "no damaged pack found: nothing to salvage" +
                std::string(found->lost_packs > 0
                                ? " (packs are missing: `repo check` names them, `repo repair "
                                  "index` drops their entries)"
                                : "");
    }
  }
  Result<RepairPacksReport> report = RepairPacksReport{};
  if (!packs.empty()) report = RepairPacks(**repo, session->get(), packs, options);
  if (!report.ok()) return Fail(report.status());
  // What is lost for good, as files: the index no longer lists it, so a check finds it.
  std::vector<DamagedSnapshot> damaged;
  if (!report->lost_blobs.empty() && !options.dry_run) {
    auto after = CheckWithProgress(ctx, **repo, CheckOptions{});
    if (!after.ok()) return Fail(after.status().WithContext("naming the files that lost data"));
    damaged = std::move(after->damaged);
  }
  const bool lost = !report->lost_blobs.empty();
  if (ctx.global.json) {
    std::vector<std::string> items, fresh;
    auto n = [](uint64_t v) { return static_cast<int64_t>(v); };
    for (const SalvagedPack& p : report->packs) {
      items.push_back(JsonObject()
                          .Str("pack", p.pack.Hex())
                          .Str("skipped", p.skipped)
                          .Str("header_error", p.header_error)
                          .Int("blobs", n(p.blobs))
                          .Int("salvaged", n(p.salvaged))
                          .Int("elsewhere", n(p.elsewhere))
                          .Int("lost", n(p.lost))
                          .Str("first_loss", p.first_loss)
                          .Build());
    }
    for (const Id& p : report->new_packs) fresh.push_back(JsonQuote(p.Hex()));
    Print(JsonObject()
              .Bool("dry_run", options.dry_run)
              .Raw("packs", JsonArray(items))
              .Raw("new_packs", JsonArray(fresh))
              .Int("index_files_written", n(report->index_files_written))
              .Int("index_files_replaced", n(report->index_files_replaced))
              .Int("unreadable_index_files", n(report->unreadable_index_files))
              .Int("lost_blobs", n(report->lost_blobs.size()))
              .Raw("damaged_snapshots", DamagedSnapshotsJson(damaged))
              .Build());
    return lost ? kExitDamaged : kExitOk;
  }
  const bool say = ctx.global.verbosity >= 0;
  if (!nothing.empty() && say) Print(nothing);
  for (const SalvagedPack& p : report->packs) {
    if (!say) break;
    std::string line = "pack " + p.pack.ShortHex() + ": ";
    if (!p.skipped.empty()) {
      Print(line + "skipped, " + p.skipped);
      continue;
    }
    if (!p.header_error.empty())
      line += "header unreadable (" + p.header_error + "), blobs found by the index; ";
    line += std::to_string(p.salvaged) + " of " + std::to_string(p.blobs) + " blobs " +
            (options.dry_run ? "can be salvaged" : "salvaged");
    if (p.elsewhere > 0)
      line += ", " + std::to_string(p.elsewhere) + " unreadable but held by another pack";
    if (p.lost > 0) line += ", " + std::to_string(p.lost) + " lost (first: " + p.first_loss + ")";
    Print(line);
  }
  if (!options.dry_run && say && !report->packs.empty()) {
    size_t deleted = 0;
    for (const SalvagedPack& p : report->packs) deleted += p.skipped.empty();
    Print("wrote " + std::to_string(report->new_packs.size()) + " new packs and " +
          std::to_string(report->index_files_written) + " index files (replacing " +
          std::to_string(report->index_files_replaced) + "), deleted " + std::to_string(deleted) +
          " damaged packs");
  }
  if (report->unreadable_index_files > 0 && say) {
    Print("note: " + std::to_string(report->unreadable_index_files) +
          " index files cannot be read and were not used: run `repo repair index` next");
  }
  PrintDamagedSnapshots(damaged);
  if (lost) {
    Print(std::to_string(report->lost_blobs.size()) + " blobs " +
          (options.dry_run ? "would be" : "are") +
          " lost for good; `repo repair snapshots` writes snapshots that leave them out");
  }
  return lost ? kExitDamaged : kExitOk;
}

}  // namespace repo::cli
