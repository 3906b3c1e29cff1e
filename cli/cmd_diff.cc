// repo diff SNAP1 SNAP2: what changed between two snapshots.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/query/snapshot_diff.h"

namespace repo::cli {

void DiffOptionsSpec(cxxopts::Options& o) { AddFilterOptions(o); }

namespace {

std::string ChangeJson(const TreeChange& c) {
  std::vector<std::string> what;
  for (const std::string& w : c.what) what.push_back(JsonQuote(w));
  return JsonObject()
      .Str("path", c.path)
      .Str("modifier", std::string(1, ChangeModifier(c.kind)))
      .Str("type", NodeTypeName(c.type))
      .Raw("what", JsonArray(what))
      .Build();
}

std::string StatsJson(const DiffStats& s) {
  auto n = [](uint64_t v) { return static_cast<int64_t>(v); };
  return JsonObject()
      .Int("files_added", n(s.added.files))
      .Int("files_removed", n(s.removed.files))
      .Int("files_modified", n(s.modified))
      .Int("dirs_added", n(s.added.dirs))
      .Int("dirs_removed", n(s.removed.dirs))
      .Int("others_added", n(s.added.others))
      .Int("others_removed", n(s.removed.others))
      .Int("metadata_changed", n(s.metadata))
      .Int("type_changed", n(s.type_changed))
      .Int("bytes_added", n(s.bytes_added))
      .Int("bytes_removed", n(s.bytes_removed))
      .Build();
}

void PrintSummary(const DiffStats& s) {
  char line[160];
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  Print("");
  std::snprintf(line, sizeof line, "Files:        %5llu new, %5llu removed, %5llu changed",
                u(s.added.files), u(s.removed.files), u(s.modified));
  Print(line);
  std::snprintf(line, sizeof line, "Dirs:         %5llu new, %5llu removed", u(s.added.dirs),
                u(s.removed.dirs));
  Print(line);
  std::snprintf(line, sizeof line, "Others:       %5llu new, %5llu removed", u(s.added.others),
                u(s.removed.others));
  Print(line);
  std::snprintf(line, sizeof line, "Metadata:     %5llu changed", u(s.metadata));
  Print(line);
  std::snprintf(line, sizeof line, "Type changes: %5llu", u(s.type_changed));
  Print(line);
  Print("  Added:   " + FormatBytes(s.bytes_added));
  Print("  Removed: " + FormatBytes(s.bytes_removed));
}

}  // namespace

int RunDiff(Context& ctx) {
  if (ctx.positional.size() != 2) {
    return Fail(Status::InvalidArgument("usage: repo diff SNAP1 SNAP2"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  const SnapshotFilter filter = FilterFromArgs(ctx.args);
  auto a = FindSnapshot(*all, ctx.positional[0], filter);
  if (!a.ok()) return Fail(a.status());
  auto b = FindSnapshot(*all, ctx.positional[1], filter);
  if (!b.ok()) return Fail(b.status());
  auto store = (*repo)->blobs();
  if (!store.ok()) return Fail(store.status());

  const bool json = ctx.global.json;
  DiffStats stats;
  bool first = true;
  if (json) {
    // Streamed, so that memory does not grow with the number of changes; still one line.
    std::cout << "{\"before\":" << JsonQuote(a->id.Hex()) << ",\"after\":" << JsonQuote(b->id.Hex())
              << ",\"changes\":[";
  } else {
    Print("comparing snapshot " + a->id.ShortHex() + " to " + b->id.ShortHex() + ":");
    Print("");
  }
  Status s = DiffTrees(
      **store, a->snapshot.tree, b->snapshot.tree,
      [&](const TreeChange& c) {
        if (json) {
          std::cout << (first ? "" : ",") << ChangeJson(c);
          first = false;
          return;
        }
        std::string line(1, ChangeModifier(c.kind));
        line += "    " + c.path;
        if (c.type == NodeType::kDir) line += '/';
        Print(line);
      },
      &stats);
  if (!s.ok()) {
    if (json) std::cout << std::endl;  // end the partial line; the error goes to stderr
    return Fail(s);
  }
  if (json) {
    std::cout << "],\"stats\":" << StatsJson(stats) << "}" << std::endl;
  } else {
    PrintSummary(stats);
  }
  return kExitOk;
}

}  // namespace repo::cli
