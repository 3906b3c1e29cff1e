// repo find PATTERN...: which snapshots hold files matching a glob, and where.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/query/tree_search.h"

namespace repo::cli {

void FindOptionsSpec(cxxopts::Options& o) {
  AddFilterOptions(o);
  o.add_options("find")("s,snapshot", "search only this snapshot (repeatable; id or 'latest')",
                        cxxopts::value<std::vector<std::string>>())(
      "l,long", "long form: mode, owner, size, time");
}

namespace {

std::string MatchJson(const std::string& path, const Node& n) {
  JsonObject o;
  o.Str("path", path)
      .Str("type", NodeTypeName(n.type))
      .Int("size", static_cast<int64_t>(n.size))
      .Int("mtime_ns", n.mtime_ns)
      .Int("mode", n.mode)
      .Str("user", n.user)
      .Str("group", n.group);
  if (n.type == NodeType::kSymlink) o.Str("link_target", n.link_target);
  return o.Build();
}

}  // namespace

int RunFind(Context& ctx) {
  if (ctx.positional.empty()) {
    return Fail(Status::InvalidArgument("usage: repo find PATTERN... (see 'repo find --help')"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  const SnapshotFilter filter = FilterFromArgs(ctx.args);
  std::vector<std::string> refs;
  if (ctx.args.count("snapshot")) refs = ctx.args["snapshot"].as<std::vector<std::string>>();
  auto selected = SelectSnapshots(*all, refs, filter);
  if (!selected.ok()) return Fail(selected.status());
  const std::vector<SnapshotRef>& chosen = *selected;
  auto store = (*repo)->blobs();
  if (!store.ok()) return Fail(store.status());

  TreeSearch search(**store, ctx.positional);
  const bool json = ctx.global.json;
  const bool long_form = ctx.args.count("long") > 0;
  std::vector<std::string> groups;  // --json: one object per snapshot with matches
  uint64_t total = 0;
  for (const SnapshotRef& s : chosen) {
    std::vector<std::string> lines;
    Status st = search.Search(s.snapshot.tree, [&](const std::string& path, const Node& n) {
      lines.push_back(json ? MatchJson(path, n) : long_form ? FormatNodeLong(path, n) : path);
    });
    if (!st.ok()) return Fail(st.WithContext("snapshot " + s.id.ShortHex()));
    if (lines.empty()) continue;
    total += lines.size();
    const std::string time = FormatTime(s.snapshot.time_ns / 1000000000);
    if (json) {
      groups.push_back(JsonObject()
                           .Str("snapshot", s.id.Hex())
                           .Str("short_id", s.id.ShortHex())
                           .Str("time", time)
                           .Int("time_ns", s.snapshot.time_ns)
                           .Raw("matches", JsonArray(lines))
                           .Build());
      continue;
    }
    if (total > lines.size()) Print("");
    Print("snapshot " + s.id.ShortHex() + " (" + time + "):");
    for (const std::string& l : lines) Print(l);
  }
  if (json) {
    Print(JsonArray(groups));
  } else if (total == 0 && ctx.global.verbosity >= 0) {
    std::fprintf(stderr, "repo: no matches in %zu snapshot%s\n", chosen.size(),
                 chosen.size() == 1 ? "" : "s");
  }
  return kExitOk;
}

}  // namespace repo::cli
