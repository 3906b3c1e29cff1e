// repo check: audit the repository and report damage as the files it costs.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/maintenance/check.h"

namespace repo::cli {
namespace {

const char* PhaseName(int phase) {
  switch (phase) {
    case CheckProgress::kIndex:
      return "index files";
    case CheckProgress::kPacks:
      return "pack headers";
    case CheckProgress::kReadData:
      return "packs' data";
    case CheckProgress::kSnapshots:
      return "snapshot records";
    case CheckProgress::kTrees:
      return "snapshots' trees";
    case CheckProgress::kRefs:
      return "content references";
    case CheckProgress::kDamage:
      return "which files lost data";
  }
  return "";
}

// A status line on a terminal, once a second: the phase, how far it is, and an ETA.
class CheckProgressLine {
 public:
  explicit CheckProgressLine(const CheckProgress& p) : p_(p) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~CheckProgressLine() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (printed_) std::fputs("\r\033[K", stderr);
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) Print();
  }
  void Print() {
    const auto now = std::chrono::steady_clock::now();
    const int phase = p_.phase;
    if (phase != phase_) {  // the ETA is per phase
      phase_ = phase;
      phase_start_ = now;
    }
    const uint64_t done = p_.done, total = p_.total;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double in_phase = std::chrono::duration<double>(now - phase_start_).count();
    std::string s = "[" + FormatDuration(secs) + "] checking " + PhaseName(phase) + ": " +
                    std::to_string(done) + " of " + std::to_string(total);
    if (done > 0 && total >= done && in_phase >= 2) {
      s += ", ETA " +
           FormatDuration(in_phase / static_cast<double>(done) * static_cast<double>(total - done));
    }
    std::fprintf(stderr, "\r\033[K%s", s.c_str());
    printed_ = true;
  }

  const CheckProgress& p_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point phase_start_ = start_;
  int phase_ = CheckProgress::kIndex;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool printed_ = false;
  std::thread thread_;
};

std::string DamagedPathText(const DamagedPath& p) {
  if (p.listing)
    return p.path + ": directory listing lost, with everything below it (" + p.why + ")";
  return p.path + ": " + std::to_string(p.blobs) + (p.blobs == 1 ? " piece" : " pieces") +
         " lost, " + FormatBytes(p.bytes) + " from offset " + std::to_string(p.first_offset) +
         " (" + p.why + ")";
}

}  // namespace

std::string DamagedSnapshotsJson(const std::vector<DamagedSnapshot>& snapshots) {
  auto n = [](uint64_t v) { return static_cast<int64_t>(v); };
  std::vector<std::string> damaged;
  for (const DamagedSnapshot& d : snapshots) {
    std::vector<std::string> paths;
    for (const DamagedPath& p : d.paths) {
      JsonObject o;
      o.Str("path", p.path).Bool("listing", p.listing);
      if (!p.listing) {
        o.Int("blobs", n(p.blobs)).Int("bytes", n(p.bytes)).Int("first_offset", n(p.first_offset));
      }
      paths.push_back(o.Str("why", p.why).Build());
    }
    damaged.push_back(JsonObject()
                          .Str("id", d.id.Hex())
                          .Int("time", d.snapshot.time_ns / 1000000000)
                          .Str("hostname", d.snapshot.hostname)
                          .Raw("paths", JsonArray(paths))
                          .Int("more_paths", n(d.more_paths))
                          .Build());
  }
  return JsonArray(damaged);
}

void PrintDamagedSnapshots(const std::vector<DamagedSnapshot>& snapshots) {
  for (const DamagedSnapshot& d : snapshots) {
    std::string where;
    for (const std::string& p : d.snapshot.paths) where += " " + p;
    const uint64_t count = d.paths.size() + d.more_paths;
    Print("snapshot " + d.id.ShortHex() + " (" + FormatTime(d.snapshot.time_ns / 1000000000) +
          ", " + d.snapshot.hostname + where + ") lost data in " + std::to_string(count) +
          (count == 1 ? " path:" : " paths:"));
    for (const DamagedPath& p : d.paths) Print("  " + DamagedPathText(p));
    if (d.more_paths > 0) Print("  and " + std::to_string(d.more_paths) + " more");
  }
}

Result<CheckReport> CheckWithProgress(Context& ctx, Repository& repo, const CheckOptions& options) {
  CheckProgress progress;
  std::optional<CheckProgressLine> line;
  if (!ctx.global.json && !ctx.args.count("no-progress") && StderrIsTerminal()) {
    line.emplace(progress);
  }
  return CheckRepository(repo, options, &progress);
}

namespace {

std::string ReportJson(const CheckReport& r) {
  auto n = [](uint64_t v) { return static_cast<int64_t>(v); };
  std::vector<std::string> errors, unreferenced, damaged_packs;
  for (const std::string& e : r.errors) errors.push_back(JsonQuote(e));
  for (const Id& p : r.unreferenced_packs) unreferenced.push_back(JsonQuote(p.Hex()));
  for (const Id& p : r.damaged_packs) damaged_packs.push_back(JsonQuote(p.Hex()));
  return JsonObject()
      .Bool("ok", r.ok())
      .Int("keys", n(r.keys))
      .Int("index_files", n(r.index_files))
      .Int("packs", n(r.packs))
      .Int("snapshots", n(r.snapshots))
      .Int("directories", n(r.directories))
      .Int("data_blob_refs", n(r.data_blob_refs))
      .Int("packs_read", n(r.packs_read))
      .Int("bytes_read", n(r.bytes_read))
      .Int("blobs_read", n(r.blobs_read))
      .Int("never_read_packs", n(r.never_read_packs))
      .Int("oldest_read", r.oldest_read_s)
      .Raw("notes", JsonArray([&] {
             std::vector<std::string> notes;
             for (const std::string& note : r.notes) notes.push_back(JsonQuote(note));
             return notes;
           }()))
      .Raw("unreferenced_packs", JsonArray(unreferenced))
      .Raw("damaged_packs", JsonArray(damaged_packs))
      .Raw("errors", JsonArray(errors))
      .Int("more_errors", n(r.more_errors))
      .Raw("damaged_snapshots", DamagedSnapshotsJson(r.damaged))
      .Build();
}

}  // namespace

// --read-data-subset: "n/m" (slice n of m by pack id) or "N%" (about N% of the packs, at random).
Status ParseSubset(const std::string& text, CheckOptions* o) {
  const std::string bad =
      "--read-data-subset: '" + text + "' is neither n/m (1 <= n <= m) nor N% (0 < N <= 100)";
  if (!text.empty() && text.back() == '%') {
    const std::string num = text.substr(0, text.size() - 1);
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !(v > 0 && v <= 100)) return Status::InvalidArgument(bad);
    o->read_data = CheckOptions::ReadData::kPercent;
    o->percent = v;
    return Status::OK();
  }
  unsigned n = 0, m = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%u/%u%c", &n, &m, &tail) != 2 || n < 1 || n > m ||
      text.find_first_not_of("0123456789/") != std::string::npos) {
    return Status::InvalidArgument(bad);
  }
  o->read_data = CheckOptions::ReadData::kSubset;
  o->subset_n = n;
  o->subset_m = m;
  return Status::OK();
}

void CheckOptionsSpec(cxxopts::Options& o) {
  o.add_options("check")("read-data",
                         "also read every pack whole: every blob opened and re-hashed")(
      "read-data-subset",
      "read only part of the packs: n/m (slice n of m by pack id; 1/7 ... 7/7 cover all) or N% "
      "(about N% at random)",
      cxxopts::value<std::string>())(
      "read-data-max-bytes",
      "read the packs read least recently (never first), up to SIZE of them (e.g. 20G): a daily "
      "job covers everything in turn",
      cxxopts::value<std::string>())(
      "read-data-max-time", "the same, for up to DURATION of reading (e.g. 30m)",
      cxxopts::value<std::string>())("no-progress", "no status line on a terminal");
}

int RunCheck(Context& ctx) {
  CheckOptions options;
  const bool budget = ctx.args.count("read-data-max-bytes") || ctx.args.count("read-data-max-time");
  if (static_cast<int>(ctx.args.count("read-data") > 0) +
          static_cast<int>(ctx.args.count("read-data-subset") > 0) + static_cast<int>(budget) >
      1) {
    return Fail(Status::InvalidArgument(
        "--read-data, --read-data-subset and --read-data-max-bytes/-time: give one of them"));
  }
  if (budget) {
    options.read_data = CheckOptions::ReadData::kBudget;
    if (ctx.args.count("read-data-max-bytes")) {
      auto bytes =
          ParseSize(ctx.args["read-data-max-bytes"].as<std::string>(), "read-data-max-bytes");
      if (!bytes.ok()) return Fail(bytes.status());
      if (*bytes == 0)
        return Fail(Status::InvalidArgument("--read-data-max-bytes: give more than 0"));
      options.budget_bytes = *bytes;
    }
    if (ctx.args.count("read-data-max-time")) {
      auto time =
          ParseDuration(ctx.args["read-data-max-time"].as<std::string>(), "read-data-max-time");
      if (!time.ok()) return Fail(time.status());
      if (time->count() <= 0) {
        return Fail(Status::InvalidArgument("--read-data-max-time: give more than 0"));
      }
      options.budget_seconds = time->count();
    }
  } else if (ctx.args.count("read-data-subset")) {
    Status s = ParseSubset(ctx.args["read-data-subset"].as<std::string>(), &options);
    if (!s.ok()) return Fail(s);
  } else if (ctx.args.count("read-data")) {
    options.read_data = CheckOptions::ReadData::kAll;
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  Result<CheckReport> report = CheckWithProgress(ctx, **repo, options);
  if (!report.ok()) return Fail(report.status().WithContext("check stopped"));
  const CheckReport& r = *report;
  if (ctx.global.json) {
    Print(ReportJson(r));
    return r.ok() ? kExitOk : kExitDamaged;
  }
  if (ctx.global.verbosity >= 0) {
    Print("checked " + std::to_string(r.keys) + " keys, " + std::to_string(r.index_files) +
          " index files, " + std::to_string(r.packs) + " pack headers, " +
          std::to_string(r.snapshots) + " snapshots (" + std::to_string(r.directories) +
          " directories, " + std::to_string(r.data_blob_refs) + " content references)");
    if (options.read_data != CheckOptions::ReadData::kNone) {
      Print("read " + std::to_string(r.packs_read) + " packs whole (" + FormatBytes(r.bytes_read) +
            ", " + std::to_string(r.blobs_read) + " blobs opened and re-hashed)");
      Print(
          std::to_string(r.never_read_packs) + " packs not yet read whole by checks on this host" +
          (r.oldest_read_s > 0 ? "; the least recently read was read " + FormatTime(r.oldest_read_s)
                               : std::string()));
    }
    for (const std::string& note : r.notes) Print("note: " + note);
  }
  if (!r.unreferenced_packs.empty() && ctx.global.verbosity >= 0) {
    std::string ids;
    for (size_t i = 0; i < r.unreferenced_packs.size() && i < 10; ++i) {
      ids += (i ? " " : "") + r.unreferenced_packs[i].ShortHex();
    }
    if (r.unreferenced_packs.size() > 10) ids += " ...";
    Print(std::to_string(r.unreferenced_packs.size()) +
          " packs are in no index file (a running snapshot's, or left by an interrupted one; "
          "`repo repair index` indexes them): " +
          ids);
  }
  for (const std::string& e : r.errors) Print("error: " + e);
  if (r.more_errors > 0) Print("error: ... and " + std::to_string(r.more_errors) + " more");
  PrintDamagedSnapshots(r.damaged);
  if (r.ok()) {
    if (ctx.global.verbosity >= 0) Print("no errors were found");
    return kExitOk;
  }
  const uint64_t errors = r.errors.size() + r.more_errors;
  Print(std::to_string(errors) + (errors == 1 ? " error" : " errors") + " found; " +
        std::to_string(r.damaged.size()) + " of " + std::to_string(r.snapshots) +
        " snapshots lost data");
  return kExitDamaged;
}

}  // namespace repo::cli
