// repo tag SNAPSHOT... --add/--remove/--set TAG: change the tags of snapshots.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/model/snapshot_tags.h"

namespace repo::cli {

void TagOptionsSpec(cxxopts::Options& o) {
  AddFilterOptions(o);
  o.add_options("tag")("add", "add this tag (repeatable; 'a,b' adds both)",
                       cxxopts::value<std::vector<std::string>>())(
      "remove", "remove this tag (repeatable; 'a,b' removes both)",
      cxxopts::value<std::vector<std::string>>())(
      "set", "replace all tags with these (repeatable; --set '' removes all)",
      cxxopts::value<std::vector<std::string>>());
}

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

std::string SnapshotCount(uint64_t n) {
  return std::to_string(n) + (n == 1 ? " snapshot" : " snapshots");
}

std::vector<std::string> ListArg(const cxxopts::ParseResult& args, const char* name) {
  return args.count(name) ? SplitTagList(args[name].as<std::vector<std::string>>())
                          : std::vector<std::string>{};
}

}  // namespace

int RunTag(Context& ctx) {
  TagEdit edit;
  if (ctx.args.count("set")) edit.set = ListArg(ctx.args, "set");
  edit.add = ListArg(ctx.args, "add");
  edit.remove = ListArg(ctx.args, "remove");
  if (edit.set && (ctx.args.count("add") || ctx.args.count("remove"))) {
    return Fail(Status::InvalidArgument("--set cannot be combined with --add or --remove"));
  }
  if (!ctx.args.count("set") && !ctx.args.count("add") && !ctx.args.count("remove")) {
    return Fail(Status::InvalidArgument("nothing to do: give --add, --remove or --set"));
  }
  const SnapshotFilter filter = FilterFromArgs(ctx.args);
  const bool filtered = !filter.hosts.empty() || !filter.tags.empty() || !filter.paths.empty();
  if (ctx.positional.empty() && !filtered) {
    return Fail(Status::InvalidArgument(
        "usage: repo tag SNAPSHOT... (or --host/--tag/--path to select snapshots) "
        "--add/--remove/--set TAG"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto session = BeginSession(**repo, ctx, SessionKind::kWriter, "tag");
  if (!session.ok()) return Fail(session.status());
  const MetadataStore metadata = (*repo)->metadata();
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  auto selected = SelectSnapshots(*all, ctx.positional, filter);
  if (!selected.ok()) return Fail(selected.status());
  const std::vector<SnapshotRef>& chosen = *selected;

  std::vector<std::string> items;
  uint64_t changed = 0;
  for (const SnapshotRef& s : chosen) {
    Result<RetagResult> r = Status::Aborted("not run");
    Status committed = (*session)->Commit([&] {  // not unlocked meanwhile
      r = RetagSnapshot(metadata, s, edit);
      return r.status();
    });
    if (!committed.ok()) return Fail(committed);
    changed += r->changed ? 1 : 0;
    if (ctx.global.json) {
      JsonObject o;
      o.Str("old_id", r->old_id.Hex()).Str("new_id", r->new_id.Hex()).Bool("changed", r->changed);
      std::vector<std::string> tags;
      for (const auto& t : r->snapshot.tags) tags.push_back(JsonQuote(t));
      o.Raw("tags", JsonArray(tags));
      if (r->snapshot.original) o.Str("original", r->snapshot.original->Hex());
      items.push_back(o.Build());
    } else if (r->changed) {
      Print(r->old_id.ShortHex() + " -> " + r->new_id.ShortHex() +
            "  tags: " + Join(r->snapshot.tags));
    } else if (ctx.global.verbosity > 0) {
      Print(r->old_id.ShortHex() + " unchanged  tags: " + Join(r->snapshot.tags));
    }
  }
  if (ctx.global.json) {
    Print(JsonObject()
              .Int("changed", static_cast<int64_t>(changed))
              .Raw("snapshots", JsonArray(items))
              .Build());
  } else if (changed == 0) {
    Print("no snapshot changed: the tags of " + SnapshotCount(chosen.size()) +
          " are already as requested");
  } else {
    Print(SnapshotCount(changed) + " changed");
  }
  return kExitOk;
}

}  // namespace repo::cli
