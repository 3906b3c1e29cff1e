// repo repair index: rebuild the index files and the cache from pack headers.
#include "cli/commands.h"
#include "cli/json.h"

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
