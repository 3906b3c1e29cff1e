// repo snapshot (alias: backup): back up paths, stdin, or a command's output.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/archiver/archiver.h"
#include "repo/model/snapshot_tags.h"
#include "repo/os/child_process.h"

namespace repo::cli {

void SnapshotOptionsSpec(cxxopts::Options& o) {
  o.add_options("snapshot")("tag", "add a tag (repeatable; 'a,b' adds both)",
                            cxxopts::value<std::vector<std::string>>())(
      "host", "record this host name instead of the machine's", cxxopts::value<std::string>())(
      "exclude", "skip paths matching a glob (repeatable)",
      cxxopts::value<std::vector<std::string>>())("exclude-file",
                                                  "read exclude globs from a file, one per line",
                                                  cxxopts::value<std::vector<std::string>>())(
      "exclude-caches", "skip the contents of directories holding a CACHEDIR.TAG")(
      "x,one-file-system", "do not cross filesystem boundaries")(
      "exclude-larger-than", "skip files larger than SIZE", cxxopts::value<std::string>())(
      "force", "read every file, even those unchanged since the parent snapshot")(
      "parent", "use this snapshot as the parent", cxxopts::value<std::string>())(
      "stdin", "back up standard input")("stdin-filename",
                                         "file name for --stdin / --stdin-from-command",
                                         cxxopts::value<std::string>()->default_value("stdin"))(
      "stdin-from-command",
      "run the command after -- and back up its output; "
      "no snapshot if it fails")("no-progress", "no progress output");
}

namespace {

Status ReadExcludeFile(const std::string& path, std::vector<std::string>* patterns) {
  std::ifstream f(path);
  if (!f) return Status::InvalidArgument("cannot read exclude file " + path);
  for (std::string line; std::getline(f, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    patterns->push_back(line);
  }
  return Status::OK();
}

// --stdin-from-command: Aborted unless the command exited 0, so that a failed dump never
// becomes a snapshot.
Status CommandFinished(ChildProcess& command, const std::string& name) {
  ASSIGN_OR_RETURN(ExitStatus status, command.Wait());
  if (status.success()) return Status::OK();
  return Status::Aborted("command '" + name + "' " + status.Describe() +
                         "; no snapshot was written");
}

// Prints progress every second: a status line on a terminal, JSON lines with --json.
class ProgressPrinter {
 public:
  ProgressPrinter(const ArchiverProgress& p, bool json, bool line)
      : p_(p), json_(json), line_(line), start_(std::chrono::steady_clock::now()) {
    if (json_ || line_) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressPrinter() { Stop(); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (line_ && printed_) std::fputs("\r\033[K", stderr);
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) Print();
  }
  void Print() {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    uint64_t bytes = p_.bytes, files = p_.files, total = p_.total_bytes;
    double rate = secs > 0 ? bytes / secs : 0;
    bool eta_known = p_.scan_done && rate > 0 && total >= bytes;
    double eta = eta_known ? (total - bytes) / rate : 0;
    if (json_) {
      JsonObject o;
      o.Str("message_type", "status")
          .Int("seconds_elapsed", static_cast<int64_t>(secs))
          .Int("files_done", static_cast<int64_t>(files))
          .Int("bytes_done", static_cast<int64_t>(bytes))
          .Int("bytes_added", static_cast<int64_t>(p_.bytes_added.load()))
          .Int("errors", static_cast<int64_t>(p_.errors.load()));
      if (p_.scan_done) {
        o.Int("total_files", static_cast<int64_t>(p_.total_files.load()))
            .Int("total_bytes", static_cast<int64_t>(total));
      }
      if (eta_known) o.Int("seconds_remaining", static_cast<int64_t>(eta));
      std::printf("%s\n", o.Build().c_str());
      std::fflush(stdout);
      return;
    }
    std::string s =
        "[" + FormatDuration(secs) + "] " + std::to_string(files) + " files, " + FormatBytes(bytes);
    if (p_.scan_done) {
      s += " of " + FormatBytes(total);
    }
    s += ", " + FormatBytes(static_cast<uint64_t>(rate)) + "/s";
    if (eta_known) s += ", ETA " + FormatDuration(eta);
    if (p_.errors) s += ", " + std::to_string(p_.errors.load()) + " errors";
    std::fprintf(stderr, "\r\033[K%s", s.c_str());
    printed_ = true;
  }

  const ArchiverProgress& p_;
  const bool json_, line_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool printed_ = false;
  std::thread thread_;
};

std::string SummaryJson(const ArchiveResult& r) {
  const SnapshotSummary& s = r.snapshot.summary;
  return JsonObject()
      .Str("message_type", "summary")
      .Str("snapshot_id", r.snapshot_id.Hex())
      .Int("files_new", static_cast<int64_t>(s.files_new))
      .Int("files_changed", static_cast<int64_t>(s.files_changed))
      .Int("files_unchanged", static_cast<int64_t>(s.files_unchanged))
      .Int("dirs_new", static_cast<int64_t>(s.dirs_new))
      .Int("dirs_changed", static_cast<int64_t>(s.dirs_changed))
      .Int("dirs_unchanged", static_cast<int64_t>(s.dirs_unchanged))
      .Int("data_blobs", static_cast<int64_t>(s.data_blobs))
      .Int("tree_blobs", static_cast<int64_t>(s.tree_blobs))
      .Int("bytes_read", static_cast<int64_t>(s.bytes_read))
      .Int("bytes_processed", static_cast<int64_t>(s.bytes_processed))
      .Int("bytes_added", static_cast<int64_t>(s.bytes_added))
      .Int("errors", static_cast<int64_t>(s.errors))
      .Int("duration_ms", s.duration_ns / 1000000)
      .Build();
}

}  // namespace

int RunSnapshot(Context& ctx) {
  const auto& a = ctx.args;
  SnapshotOptions opts;
  const bool from_command = a.count("stdin-from-command") > 0;
  const bool from_stdin = a.count("stdin") > 0;
  if (from_command && from_stdin) {
    return Fail(Status::InvalidArgument("--stdin and --stdin-from-command exclude each other"));
  }
  if (a.count("tag")) opts.tags = SplitTagList(a["tag"].as<std::vector<std::string>>());
  if (a.count("host")) opts.hostname = a["host"].as<std::string>();
  if (a.count("exclude")) opts.excludes.patterns = a["exclude"].as<std::vector<std::string>>();
  if (a.count("exclude-file")) {
    for (const auto& f : a["exclude-file"].as<std::vector<std::string>>()) {
      Status s = ReadExcludeFile(f, &opts.excludes.patterns);
      if (!s.ok()) return Fail(s);
    }
  }
  opts.excludes.exclude_caches = a.count("exclude-caches") > 0;
  opts.excludes.one_file_system = a.count("one-file-system") > 0;
  if (a.count("exclude-larger-than")) {
    auto size = ParseSize(a["exclude-larger-than"].as<std::string>(), "exclude-larger-than");
    if (!size.ok()) return Fail(size.status());
    opts.excludes.exclude_larger_than = *size;
  }
  opts.force = a.count("force") > 0;
  if (from_command) {
    if (ctx.after_dashes.empty()) {
      return Fail(Status::InvalidArgument("--stdin-from-command needs a command after --"));
    }
  } else if (!ctx.after_dashes.empty()) {
    ctx.positional.insert(ctx.positional.end(), ctx.after_dashes.begin(), ctx.after_dashes.end());
  }
  if (from_stdin || from_command) {
    if (!ctx.positional.empty()) {
      return Fail(Status::InvalidArgument("paths cannot be combined with --stdin"));
    }
    opts.stdin_filename = a["stdin-filename"].as<std::string>();
  } else {
    if (ctx.positional.empty()) {
      return Fail(
          Status::InvalidArgument("nothing to back up: give paths, --stdin or "
                                  "--stdin-from-command"));
    }
    opts.paths = ctx.positional;
  }

  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto session = SessionOptionsFrom(ctx);
  if (!session.ok()) return Fail(session.status());
  opts.session = std::move(session).value();
  if (a.count("parent")) {
    auto parent = LoadSnapshot(**repo, a["parent"].as<std::string>(), {});
    if (!parent.ok()) return Fail(parent.status());
    opts.parent = parent->id;
  }

  ChildProcess command;
  if (from_command) {
    Status s = command.Start(ctx.after_dashes);
    if (!s.ok()) return Fail(s);
    opts.stdin_fd = command.stdout_fd();
    opts.stream_finished = [&] { return CommandFinished(command, ctx.after_dashes[0]); };
  } else if (from_stdin) {
    opts.stdin_fd = STDIN_FILENO;
  }

  ArchiverProgress progress;
  const bool show = !a.count("no-progress") && ctx.global.verbosity >= 0;
  progress.want_totals = show && (ctx.global.json || StderrIsTerminal());
  ProgressPrinter printer(progress, ctx.global.json && show,
                          !ctx.global.json && show && StderrIsTerminal());
  auto warn = [&](const std::string& m) {
    std::fprintf(stderr, "%srepo: warning: %s\n",
                 (!ctx.global.json && show && StderrIsTerminal()) ? "\r\033[K" : "", m.c_str());
  };
  auto result = repo::RunSnapshot(**repo, opts, &progress, warn);
  printer.Stop();
  if (!result.ok()) {
    if (from_command) (void)command.Wait();  // reap it; the error above says what happened
    return Fail(result.status());
  }
  const SnapshotSummary& s = result->snapshot.summary;
  if (ctx.global.json) {
    Print(SummaryJson(*result));
  } else if (ctx.global.verbosity >= 0) {
    Print("files: " + std::to_string(s.files_new) + " new, " + std::to_string(s.files_changed) +
          " changed, " + std::to_string(s.files_unchanged) + " unchanged");
    Print("dirs:  " + std::to_string(s.dirs_new) + " new, " + std::to_string(s.dirs_changed) +
          " changed, " + std::to_string(s.dirs_unchanged) + " unchanged");
    Print("read " + FormatBytes(s.bytes_read) + " of " + FormatBytes(s.bytes_processed) +
          ", added " + FormatBytes(s.bytes_added) + " to the repository in " +
          FormatDuration(s.duration_ns / 1e9));
    Print("snapshot " + result->snapshot_id.ShortHex() + " saved");
  }
  if (s.errors > 0) {
    std::fprintf(stderr,
                 "repo: warning: %llu files or directories could not be read; the "
                 "snapshot is incomplete\n",
                 static_cast<unsigned long long>(s.errors));
    return kExitIncomplete;
  }
  return kExitOk;
}

}  // namespace repo::cli
