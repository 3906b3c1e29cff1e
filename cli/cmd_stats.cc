// repo stats [SNAPSHOT...]: how large snapshots are when restored, what they store, and what
// the repository holds.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/query/repo_stats.h"

namespace repo::cli {

void StatsOptionsSpec(cxxopts::Options& o) {
  AddFilterOptions(o);
  o.add_options("stats")("mode",
                         "restore-size: what the snapshots restore to; raw-data: also the distinct "
                         "blobs they reference, deduplication and compression",
                         cxxopts::value<std::string>()->default_value("restore-size"));
}

namespace {

// "2.000", or "null" when the ratio is undefined (nothing stored).
std::string Ratio(uint64_t num, uint64_t den) {
  if (den == 0) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(num) / static_cast<double>(den));
  return buf;
}

std::string BlobsJson(const BlobTotals& t) {
  return JsonObject()
      .Int("count", static_cast<int64_t>(t.count))
      .Int("raw_bytes", static_cast<int64_t>(t.raw_bytes))
      .Int("stored_bytes", static_cast<int64_t>(t.stored_bytes))
      .Build();
}

std::string Line(const char* label, const std::string& value) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-18s %s", label, value.c_str());
  return buf;
}

}  // namespace

int RunStats(Context& ctx) {
  const std::string mode = ctx.args["mode"].as<std::string>();
  if (mode != "restore-size" && mode != "raw-data") {
    return Fail(Status::InvalidArgument("--mode: '" + mode +
                                        "' is not a mode (use restore-size or raw-data)"));
  }
  const bool raw = mode == "raw-data";
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  const SnapshotFilter filter = FilterFromArgs(ctx.args);
  auto selected = SelectSnapshots(*all, ctx.positional, filter);
  if (!selected.ok()) return Fail(selected.status());
  const std::vector<SnapshotRef>& chosen = *selected;
  auto store = (*repo)->blobs();
  if (!store.ok()) return Fail(store.status());
  auto stats = CollectSnapshotStats(**store, chosen, raw);
  if (!stats.ok()) return Fail(stats.status());
  auto totals = CollectRepositoryTotals((*repo)->backend());
  if (!totals.ok()) return Fail(totals.status());
  const SnapshotStats& s = *stats;
  const RepositoryTotals& t = *totals;
  const uint64_t raw_all = s.data.raw_bytes + s.tree.raw_bytes;
  const uint64_t stored_all = s.data.stored_bytes + s.tree.stored_bytes;

  if (ctx.global.json) {
    auto n = [](uint64_t v) { return static_cast<int64_t>(v); };
    JsonObject o;
    o.Str("mode", mode)
        .Int("snapshots", n(s.snapshots))
        .Raw("restore_size", JsonObject()
                                 .Int("files", n(s.restore.files))
                                 .Int("dirs", n(s.restore.dirs))
                                 .Int("others", n(s.restore.others))
                                 .Int("bytes", n(s.restore.bytes))
                                 .Build());
    if (raw) {
      o.Raw("data_blobs", BlobsJson(s.data))
          .Raw("tree_blobs", BlobsJson(s.tree))
          .Int("blobs_missing", n(s.blobs_missing))
          .Raw("dedup_ratio", Ratio(s.restore.bytes, s.data.raw_bytes))
          .Raw("compression_ratio", Ratio(raw_all, stored_all));
    }
    o.Raw("repository", JsonObject()
                            .Int("snapshots", n(t.snapshots))
                            .Int("packs", n(t.packs))
                            .Int("pack_bytes", n(t.pack_bytes))
                            .Int("index_files", n(t.index_files))
                            .Build());
    Print(o.Build());
  } else {
    Print("Stats in " + mode + " mode for " + std::to_string(s.snapshots) +
          (s.snapshots == 1 ? " snapshot:" : " snapshots:"));
    Print(Line("Files:", std::to_string(s.restore.files)));
    Print(Line("Directories:", std::to_string(s.restore.dirs)));
    Print(Line("Others:", std::to_string(s.restore.others)));
    Print(Line("Restore size:", FormatBytes(s.restore.bytes)));
    if (raw) {
      auto blobs = [](const BlobTotals& b) {
        return std::to_string(b.count) + ", " + FormatBytes(b.raw_bytes) + " raw, " +
               FormatBytes(b.stored_bytes) + " stored";
      };
      Print(Line("Data blobs:", blobs(s.data)));
      Print(Line("Tree blobs:", blobs(s.tree)));
      Print(Line("Deduplication:",
                 Ratio(s.restore.bytes, s.data.raw_bytes) + "x (restore size / distinct data)"));
      Print(Line("Compression:", Ratio(raw_all, stored_all) + "x (raw / stored)"));
    }
    Print("Repository:");
    Print(Line("Snapshots:", std::to_string(t.snapshots)));
    Print(Line("Packs:", std::to_string(t.packs) + ", " + FormatBytes(t.pack_bytes)));
    Print(Line("Index files:", std::to_string(t.index_files)));
  }
  if (s.blobs_missing > 0) {
    return Fail(Status::Corruption(std::to_string(s.blobs_missing) +
                                   " blobs referenced by the snapshots are in no index file "
                                   "(run 'repo repair index')"));
  }
  return kExitOk;
}

}  // namespace repo::cli
