// repo forget: remove snapshot records by id or by a retention policy.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/maintenance/forget.h"

namespace repo::cli {

void ForgetOptionsSpec(cxxopts::Options& o) {
  AddFilterOptions(o);
  AddSessionOptions(o);
  o.add_options("policy")("keep-last", "keep the N newest snapshots", cxxopts::value<int>())(
      "keep-hourly", "keep the newest snapshot of each of the N newest hours that have one",
      cxxopts::value<int>())("keep-daily", "... of each of the N newest days",
                             cxxopts::value<int>())(
      "keep-weekly", "... of each of the N newest (ISO) weeks", cxxopts::value<int>())(
      "keep-monthly", "... of each of the N newest months", cxxopts::value<int>())(
      "keep-yearly", "... of each of the N newest years", cxxopts::value<int>())(
      "keep-within",
      "keep the snapshots taken within DURATION of the group's newest: y, m (months), w, d, h, "
      "e.g. 30d, 6m, 1y6m",
      cxxopts::value<std::string>())(
      "keep-tag", "keep the snapshots with this tag ('a,b': both; repeatable: either)",
      cxxopts::value<std::vector<std::string>>())(
      "group-by", "apply the policy per group of snapshots with the same: host, paths, tags",
      cxxopts::value<std::string>()->default_value("host,paths"))(
      "n,dry-run", "say what would be removed, remove nothing");
}

namespace {

std::string Join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string Quoted(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const std::string& s : v) q.push_back(JsonQuote(s));
  return JsonArray(q);
}

// --keep-within: restic's units, y (365 days), m (months of 30 days), w, d, h, in any
// combination ("1y6m", "30d", "2w3d12h"). Never minutes: "6m" is six months, as in restic.
Result<int64_t> ParseRetention(const std::string& text) {
  const auto bad = [&] {
    return Status::InvalidArgument(
        "--keep-within: '" + text +
        "' is not a duration (y, m = months, w, d, h: e.g. 30d, 6m, 1y)");
  };
  int64_t total = 0;
  size_t i = 0;
  if (text.empty()) return bad();
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || j == text.size() || j - i > 6) return bad();
    const int64_t n = std::stoll(text.substr(i, j - i));
    int64_t unit = 0;
    switch (text[j]) {
      case 'y':
        unit = 365 * 86400;
        break;
      case 'm':
        unit = 30 * 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'h':
        unit = 3600;
        break;
      default:
        return bad();
    }
    total += n * unit;
    i = j + 1;
  }
  if (total <= 0) return bad();
  return total * 1000000000;
}

Result<RetentionPolicy> PolicyFromArgs(const cxxopts::ParseResult& args) {
  RetentionPolicy p;
  for (const auto& [name, field] : {std::pair<const char*, int*>{"keep-last", &p.last},
                                    {"keep-hourly", &p.hourly},
                                    {"keep-daily", &p.daily},
                                    {"keep-weekly", &p.weekly},
                                    {"keep-monthly", &p.monthly},
                                    {"keep-yearly", &p.yearly}}) {
    if (!args.count(name)) continue;
    *field = args[name].as<int>();
    if (*field < 1) {
      return Status::InvalidArgument(std::string("--") + name + ": give a number of 1 or more");
    }
  }
  if (args.count("keep-within")) {
    ASSIGN_OR_RETURN(p.within_ns, ParseRetention(args["keep-within"].as<std::string>()));
  }
  if (args.count("keep-tag")) {
    for (const std::string& list : args["keep-tag"].as<std::vector<std::string>>()) {
      std::vector<std::string> tags;
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        if (end > start) tags.push_back(list.substr(start, end - start));
        start = end + 1;
      }
      if (tags.empty()) return Status::InvalidArgument("--keep-tag: give a tag");
      p.tags.push_back(std::move(tags));
    }
  }
  return p;
}

}  // namespace

int RunForget(Context& ctx) {
  auto policy = PolicyFromArgs(ctx.args);
  if (!policy.ok()) return Fail(policy.status());
  auto group_by = ParseGroupBy(ctx.args["group-by"].as<std::string>());
  if (!group_by.ok()) return Fail(group_by.status());
  const bool by_id = !ctx.positional.empty();
  if (!by_id && policy->empty()) {
    return Fail(Status::InvalidArgument(
        "forget needs snapshot ids or a policy (--keep-last, --keep-daily, --keep-within, ...): "
        "refusing to remove every snapshot"));
  }
  if (by_id && !policy->empty()) {
    return Fail(Status::InvalidArgument("give snapshot ids or a policy, not both"));
  }
  const bool dry_run = ctx.args.count("dry-run") > 0;
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  // Removing records writes nothing another writer relies on (docs/design.md, "Sessions"): a
  // writer, beside snapshots and maintenance alike.
  std::unique_ptr<Session> session;
  if (!dry_run) {
    auto begun = BeginSession(**repo, ctx, SessionKind::kWriter, "forget");
    if (!begun.ok()) return Fail(begun.status());
    session = std::move(*begun);
  }
  auto all = ListSnapshots(**repo);
  if (!all.ok()) return Fail(all.status());
  auto selected = SelectSnapshots(*all, ctx.positional, FilterFromArgs(ctx.args));
  if (!selected.ok()) return Fail(selected.status());

  std::vector<ForgetGroup> groups;
  if (by_id) {
    ForgetGroup g;
    for (const SnapshotRef& s : *selected) g.snapshots.push_back({s, false, {}});
    groups.push_back(std::move(g));
  } else {
    groups = ApplyPolicy(*selected, *policy, *group_by);
  }

  const MetadataStore metadata = (*repo)->metadata();
  uint64_t kept = 0, removed = 0;
  std::vector<std::string> groups_json;
  for (const ForgetGroup& g : groups) {
    std::vector<std::string> keep_json, remove_json;
    if (!ctx.global.json && !by_id && ctx.global.verbosity >= 0) {
      std::string head = "snapshots";
      if (group_by->host) head += " of host " + g.host;
      if (group_by->paths)
        head += (group_by->host ? ", paths " : " of paths ") + Join(g.paths, " ");
      if (group_by->tags) head += ", tags " + (g.tags.empty() ? "(none)" : Join(g.tags));
      Print(head + ":");
    }
    for (const ForgetDecision& d : g.snapshots) {
      const SnapshotRef& s = d.snapshot;
      if (d.keep) {
        ++kept;
      } else if (!dry_run) {
        Status gone = session->Commit([&] { return RemoveSnapshot(metadata, s.id); });
        if (!gone.ok()) return Fail(gone.WithContext("removing snapshot " + s.id.ShortHex()));
        ++removed;
      } else {
        ++removed;
      }
      const std::string when = FormatTime(s.snapshot.time_ns / 1000000000);
      if (ctx.global.json) {
        JsonObject o;
        o.Str("id", s.id.Hex()).Int("time", s.snapshot.time_ns / 1000000000);
        if (d.keep) o.Raw("reasons", Quoted(d.reasons));
        (d.keep ? keep_json : remove_json).push_back(o.Build());
      } else if (ctx.global.verbosity >= 0) {
        Print(std::string(d.keep ? "  keep    " : "  remove  ") + s.id.ShortHex() + "  " + when +
              "  " + s.snapshot.hostname + "  " + Join(s.snapshot.paths, " ") +
              (s.snapshot.tags.empty() ? "" : "  [" + Join(s.snapshot.tags) + "]") +
              (d.keep ? "  (" + Join(d.reasons, ", ") + ")" : ""));
      }
    }
    if (ctx.global.json) {
      JsonObject o;
      if (group_by->host && !by_id) o.Str("host", g.host);
      if (group_by->paths && !by_id) o.Raw("paths", Quoted(g.paths));
      if (group_by->tags && !by_id) o.Raw("tags", Quoted(g.tags));
      groups_json.push_back(
          o.Raw("keep", JsonArray(keep_json)).Raw("remove", JsonArray(remove_json)).Build());
    }
  }
  if (ctx.global.json) {
    Print(JsonObject()
              .Bool("dry_run", dry_run)
              .Int("kept", static_cast<int64_t>(kept))
              .Int("removed", static_cast<int64_t>(removed))
              .Raw("groups", JsonArray(groups_json))
              .Build());
  } else if (ctx.global.verbosity >= 0) {
    Print(std::to_string(kept) + " kept, " + std::to_string(removed) +
          (dry_run ? " would be removed (--dry-run: nothing removed)" : " removed") +
          (removed > 0 && !dry_run
               ? "; their data stays until prune removes what no snapshot references"
               : ""));
  }
  return kExitOk;
}

}  // namespace repo::cli
