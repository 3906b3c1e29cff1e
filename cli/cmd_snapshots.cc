// repo snapshots: list snapshots.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"

namespace repo::cli {

void SnapshotsOptionsSpec(cxxopts::Options& o) { AddFilterOptions(o); }

namespace {

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string JsonStrings(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back(JsonQuote(s));
  return JsonArray(q);
}

}  // namespace

std::string SnapshotJson(const SnapshotRef& r) {
  const Snapshot& s = r.snapshot;
  JsonObject o;
  o.Str("id", r.id.Hex())
      .Str("short_id", r.id.ShortHex())
      .Int("time_ns", s.time_ns)
      .Str("time", FormatTime(s.time_ns / 1000000000))
      .Str("hostname", s.hostname)
      .Str("username", s.username)
      .Raw("paths", JsonStrings(s.paths))
      .Raw("tags", JsonStrings(s.tags));
  if (s.parent) o.Str("parent", s.parent->Hex());
  if (s.original) o.Str("original", s.original->Hex());
  o.Str("program_version", s.program_version)
      .Raw("summary", JsonObject()
                          .Int("files_new", static_cast<int64_t>(s.summary.files_new))
                          .Int("files_changed", static_cast<int64_t>(s.summary.files_changed))
                          .Int("files_unchanged", static_cast<int64_t>(s.summary.files_unchanged))
                          .Int("bytes_processed", static_cast<int64_t>(s.summary.bytes_processed))
                          .Int("bytes_added", static_cast<int64_t>(s.summary.bytes_added))
                          .Int("errors", static_cast<int64_t>(s.summary.errors))
                          .Int("duration_ms", s.summary.duration_ns / 1000000)
                          .Build());
  return o.Build();
}

int RunSnapshots(Context& ctx) {
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  SnapshotFilter filter = FilterFromArgs(ctx.args);
  auto selected = SelectSnapshots(*all, ctx.positional, filter);
  if (!selected.ok()) return Fail(selected.status());
  const std::vector<SnapshotRef>& shown = *selected;
  if (ctx.global.json) {
    std::vector<std::string> items;
    for (const auto& r : shown) items.push_back(SnapshotJson(r));
    Print(JsonArray(items));
    return kExitOk;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-9s %-19s %-16s %-16s %10s  %s", "ID", "Time", "Host", "Tags",
                "Size", "Paths");
  Print(line);
  for (const auto& r : shown) {
    const Snapshot& s = r.snapshot;
    std::snprintf(line, sizeof line, "%-9s %-19s %-16s %-16s %10s  %s", r.id.ShortHex().c_str(),
                  FormatTime(s.time_ns / 1000000000).c_str(), s.hostname.c_str(),
                  Join(s.tags, ",").c_str(), FormatBytes(s.summary.bytes_processed).c_str(),
                  Join(s.paths, " ").c_str());
    Print(line);
  }
  Print(std::to_string(shown.size()) + " snapshots");
  return kExitOk;
}

}  // namespace repo::cli
