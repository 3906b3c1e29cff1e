// repo restore SNAPSHOT --target DIR: bring a snapshot back.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/restorer/restorer.h"

namespace repo::cli {

void RestoreOptionsSpec(cxxopts::Options& o) {
  AddFilterOptions(o);
  o.add_options("restore")("t,target", "directory to restore into (created if missing)",
                           cxxopts::value<std::string>())(
      "include", "restore only paths matching a glob (repeatable)",
      cxxopts::value<std::vector<std::string>>())(
      "exclude", "do not restore paths matching a glob (repeatable)",
      cxxopts::value<std::vector<std::string>>())("overwrite",
                                                  "replace existing files instead of refusing")(
      "verify", "re-read restored files and check them against the snapshot");
}

int RunRestore(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return Fail(Status::InvalidArgument("usage: repo restore SNAPSHOT --target DIR"));
  }
  if (!ctx.args.count("target")) {
    return Fail(Status::InvalidArgument("restore needs --target DIR"));
  }
  RestoreOptions opts;
  opts.target = ctx.args["target"].as<std::string>();
  if (ctx.args.count("include")) opts.includes = ctx.args["include"].as<std::vector<std::string>>();
  if (ctx.args.count("exclude")) opts.excludes = ctx.args["exclude"].as<std::vector<std::string>>();
  opts.overwrite = ctx.args.count("overwrite") > 0;
  opts.verify = ctx.args.count("verify") > 0;
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto snap = LoadSnapshot(**repo, ctx.positional[0], FilterFromArgs(ctx.args));
  if (!snap.ok()) return Fail(snap.status());
  auto warn = [](const std::string& m) { std::fprintf(stderr, "repo: warning: %s\n", m.c_str()); };
  auto summary = RestoreSnapshot(**repo, snap->snapshot, opts, nullptr, warn);
  if (!summary.ok()) return Fail(summary.status());
  // Files restored with content lost: each named on stderr with its lost byte ranges (zeros in
  // the restored file), and the damage exit code.
  std::vector<std::string> damaged_json;
  for (const DamagedFile& d : summary->damaged) {
    std::string ranges;
    std::vector<std::string> ranges_json;
    for (const auto& [offset, length] : d.ranges) {
      ranges += (ranges.empty() ? "" : ", ") + std::to_string(offset) + "-" +
                std::to_string(offset + length);
      ranges_json.push_back(JsonObject()
                                .Int("offset", static_cast<int64_t>(offset))
                                .Int("length", static_cast<int64_t>(length))
                                .Build());
    }
    std::fprintf(stderr, "repo: damaged: %s: bytes %s lost, restored as zeros (%s)\n",
                 d.path.c_str(), ranges.c_str(), d.why.c_str());
    damaged_json.push_back(JsonObject()
                               .Str("path", d.path)
                               .Raw("ranges", JsonArray(ranges_json))
                               .Str("why", d.why)
                               .Build());
  }
  if (ctx.global.json) {
    Print(JsonObject()
              .Str("snapshot_id", snap->id.Hex())
              .Int("files", static_cast<int64_t>(summary->files))
              .Int("dirs", static_cast<int64_t>(summary->dirs))
              .Int("others", static_cast<int64_t>(summary->others))
              .Int("bytes", static_cast<int64_t>(summary->bytes))
              .Int("packs_read", static_cast<int64_t>(summary->packs_read))
              .Int("verified_files", static_cast<int64_t>(summary->verified_files))
              .Int("warnings", static_cast<int64_t>(summary->warnings))
              .Raw("damaged", JsonArray(damaged_json))
              .Build());
  } else if (ctx.global.verbosity >= 0) {
    Print("restored " + std::to_string(summary->files) + " files (" + FormatBytes(summary->bytes) +
          "), " + std::to_string(summary->dirs) + " directories, " +
          std::to_string(summary->others) + " links and special files from snapshot " +
          snap->id.ShortHex() + " to " + opts.target +
          (!opts.verify               ? ""
           : summary->damaged.empty() ? "; all verified"
                                      : "; all verified but the damaged ones"));
  }
  if (!summary->damaged.empty()) {
    std::fprintf(stderr,
                 "repo: %zu files restored with content lost (`repo check` names every snapshot "
                 "and file the damage reaches)\n",
                 summary->damaged.size());
    return kExitDamaged;
  }
  return kExitOk;
}

}  // namespace repo::cli
