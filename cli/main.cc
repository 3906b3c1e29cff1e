// repo: the command-line front door. Parses the command line, sets up logging, and dispatches to
// one command of the table below. Third-party exceptions stop here.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <system_error>
#include <thread>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/os/child_process.h"
#include "repo/store/session.h"

namespace repo::cli {
namespace {

int RunVersion(Context& ctx) {
  if (ctx.global.json) {
    Print(JsonObject()
              .Str("version", REPO_VERSION)
              .Int("format_version", RepositoryConfig::kFormatVersion)
              .Build());
  } else {
    Print(std::string("repo ") + REPO_VERSION + " (repository format " +
          std::to_string(RepositoryConfig::kFormatVersion) + ")");
  }
  return kExitOk;
}

void NoOptions(cxxopts::Options&) {}

}  // namespace

const std::vector<Command>& AllCommands() {
  static const std::vector<Command> kCommands = {
      {"init", nullptr, "create a repository", "", InitOptionsSpec, RunInit},
      {"snapshot", nullptr, "back up paths, stdin or a command's output", "[PATH...]",
       SnapshotOptionsSpec, RunSnapshot},
      {"backup", nullptr, "alias of snapshot", "[PATH...]", SnapshotOptionsSpec, RunSnapshot},
      {"snapshots", nullptr, "list snapshots", "[ID...]", SnapshotsOptionsSpec, RunSnapshots},
      {"ls", nullptr, "list files in a snapshot", "SNAPSHOT [PATH]", LsOptionsSpec, RunLs},
      {"restore", nullptr, "restore a snapshot", "SNAPSHOT", RestoreOptionsSpec, RunRestore},
      {"dump", nullptr, "write one file of a snapshot to stdout", "SNAPSHOT PATH", NoOptions,
       RunDump},
      {"find", nullptr, "find files by name or path in snapshots", "PATTERN...", FindOptionsSpec,
       RunFind},
      {"diff", nullptr, "show what changed between two snapshots", "SNAP1 SNAP2", DiffOptionsSpec,
       RunDiff},
      {"mount", nullptr, "browse every snapshot as a read-only filesystem", "MOUNTPOINT",
       MountOptionsSpec, RunMount},
      {"stats", nullptr, "restore size, stored size and deduplication of snapshots",
       "[SNAPSHOT...]", StatsOptionsSpec, RunStats},
      {"tag", nullptr, "add, remove or set the tags of snapshots", "[SNAPSHOT...]", TagOptionsSpec,
       RunTag},
      {"key", "list", "list the keys (passwords) of the repository", "", NoOptions, RunKeyList},
      {"key", "add", "add a password", "", KeyAddOptionsSpec, RunKeyAdd},
      {"key", "remove", "remove a password", "ID", NoOptions, RunKeyRemove},
      {"key", "passwd", "change the password in use", "", KeyAddOptionsSpec, RunKeyPasswd},
      {"forget", nullptr, "remove snapshots by id or by a retention policy (--keep-*)",
       "[SNAPSHOT...]", ForgetOptionsSpec, RunForget},
      {"check", nullptr, "audit the repository: what is damaged, and which files it costs", "",
       CheckOptionsSpec, RunCheck},
      {"repair", "index", "rebuild the index from the packs", "", RepairOptionsSpec,
       RunRepairIndex},
      {"repair", "packs", "salvage the readable blobs of damaged packs into new ones", "[PACK...]",
       RepairPacksOptionsSpec, RunRepairPacks},
      {"repair", "snapshots", "new snapshots that leave out what is lost (as check finds it)",
       "[SNAPSHOT...]", RepairSnapshotsOptionsSpec, RunRepairSnapshots},
      {"sessions", nullptr, "list the commands writing to the repository, and stale ones", "",
       SessionsOptionsSpec, RunSessions},
      {"unlock", nullptr, "remove a session record (of a process that is gone)", "SESSION",
       NoOptions, RunUnlock},
      {"version", nullptr, "print the version", "", NoOptions, RunVersion},
  };
  return kCommands;
}

namespace {

void AddGlobalOptions(cxxopts::Options& o) {
  o.add_options("global")("r,repo", "repository location (env REPO_REPOSITORY)",
                          cxxopts::value<std::string>())(
      "password-file", "read the password from this file (env REPO_PASSWORD_FILE)",
      cxxopts::value<std::string>())("password-command",
                                     "read the password from this command's output "
                                     "(env REPO_PASSWORD_COMMAND)",
                                     cxxopts::value<std::string>())(
      "cache-dir", "local cache directory (env REPO_CACHE_DIR)", cxxopts::value<std::string>())(
      "json", "machine-readable output")("v,verbose", "more messages (repeat for debug)")(
      "q,quiet", "only errors")("h,help", "show help")("positional", "",
                                                       cxxopts::value<std::vector<std::string>>());
}

// Global options that take a value, so that their value is not taken for the command name.
bool TakesValue(const std::string& arg) {
  for (const char* o : {"-r", "--repo", "--password-file", "--password-command", "--cache-dir"}) {
    if (arg == o) return true;
  }
  return false;
}

std::string EnvOr(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

void PrintUsage() {
  std::string text =
      "repo: content-addressed, deduplicating, encrypted backups\n\n"
      "usage: repo [global options] COMMAND [options] [args]\n\ncommands:\n";
  for (const Command& c : AllCommands()) {
    std::string name = std::string(c.name) + (c.sub ? std::string(" ") + c.sub : "");
    if (*c.positional) name += std::string(" ") + c.positional;
    char line[160];
    std::snprintf(line, sizeof line, "  %-28s %s\n", name.c_str(), c.summary);
    text += line;
  }
  text +=
      "\nglobal options:\n"
      "  -r, --repo PATH          repository (env REPO_REPOSITORY)\n"
      "  --password-file FILE     password from a file (env REPO_PASSWORD_FILE)\n"
      "  --password-command CMD   password from a command (env REPO_PASSWORD_COMMAND)\n"
      "  --cache-dir DIR          local cache (env REPO_CACHE_DIR)\n"
      "  --json                   machine-readable output\n"
      "  -v, --verbose / -q, --quiet\n\n"
      "'repo COMMAND --help' shows a command's options; docs/cli.md has the details.\n";
  std::fputs(text.c_str(), stdout);
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Find the command words: the first argument that is not an option (or an option's value),
  // and for commands with subcommands, the word right after it.
  std::vector<std::string> words;
  std::vector<std::string> rest;
  std::vector<std::string> after_dashes;
  bool expect_sub = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      after_dashes.assign(args.begin() + i + 1, args.end());
      break;
    }
    if (!a.empty() && a[0] == '-') {
      rest.push_back(a);
      if (TakesValue(a) && i + 1 < args.size()) rest.push_back(args[++i]);
      continue;
    }
    if (words.empty() || expect_sub) {
      expect_sub = words.empty() && (a == "key" || a == "repair");
      words.push_back(a);
      continue;
    }
    rest.push_back(a);
  }
  if (words.empty()) {
    PrintUsage();
    bool help = false;
    for (const auto& a : rest) help = help || a == "-h" || a == "--help";
    return help ? kExitOk : kExitUsage;
  }
  const Command* cmd = nullptr;
  for (const Command& c : AllCommands()) {
    if (words[0] == c.name && (c.sub ? words.size() > 1 && words[1] == c.sub : true)) cmd = &c;
  }
  if (!cmd) {
    std::string name = words[0] + (words.size() > 1 ? " " + words[1] : "");
    std::fprintf(stderr, "repo: unknown command '%s' (see 'repo --help')\n", name.c_str());
    return kExitUsage;
  }

  std::string full =
      std::string("repo ") + cmd->name + (cmd->sub ? std::string(" ") + cmd->sub : "");
  cxxopts::Options options(full, cmd->summary);
  options.custom_help("[options]");
  options.positional_help(cmd->positional);
  AddGlobalOptions(options);
  cmd->add_options(options);
  options.parse_positional({"positional"});

  std::vector<char*> cargv;
  std::string arg0 = "repo";
  cargv.push_back(arg0.data());
  for (auto& a : rest) cargv.push_back(a.data());
  Context ctx;
  ctx.after_dashes = std::move(after_dashes);
  try {
    ctx.args = options.parse(static_cast<int>(cargv.size()), cargv.data());
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "repo: %s (see '%s --help')\n", e.what(), full.c_str());
    return kExitUsage;
  }
  if (ctx.args.count("help")) {
    std::fputs(options.help().c_str(), stdout);
    return kExitOk;
  }
  GlobalOptions& g = ctx.global;
  g.repo = ctx.args.count("repo") ? ctx.args["repo"].as<std::string>() : EnvOr("REPO_REPOSITORY");
  g.password.file = ctx.args.count("password-file") ? ctx.args["password-file"].as<std::string>()
                                                    : EnvOr("REPO_PASSWORD_FILE");
  g.password.command =
      ctx.args.count("password-command")
          ? ctx.args["password-command"].as<std::string>()
          : (ctx.args.count("password-file") ? "" : EnvOr("REPO_PASSWORD_COMMAND"));
  if (!g.password.file.empty() && ctx.args.count("password-command")) g.password.file.clear();
  g.cache_dir = ctx.args.count("cache-dir") ? ctx.args["cache-dir"].as<std::string>()
                                            : EnvOr("REPO_CACHE_DIR", DefaultCacheDir());
  g.json = ctx.args.count("json") > 0;
  g.verbosity = ctx.args.count("quiet") ? -1 : static_cast<int>(ctx.args.count("verbose"));
  if (ctx.args.count("positional")) {
    ctx.positional = ctx.args["positional"].as<std::vector<std::string>>();
  }

  auto logger = spdlog::stderr_color_mt("repo");
  logger->set_pattern("repo: %l: %v");
  logger->set_level(g.verbosity < 0    ? spdlog::level::err
                    : g.verbosity == 0 ? spdlog::level::warn
                    : g.verbosity == 1 ? spdlog::level::info
                                       : spdlog::level::debug);
  spdlog::set_default_logger(logger);
  return cmd->run(ctx);
}

}  // namespace
}  // namespace repo::cli

namespace {

// glibc's malloc, for a process whose large buffers come and go and whose threads are many
// (pipeline workers, RocksDB's flush and compaction, lookup helpers):
// * blocks of 4 MiB or more (pack buffers beyond the kept one, RocksDB's filter construction,
//   ~11 MiB per 32 MiB table a compaction builds) get a mapping of their own, given back when
//   freed. By default glibc raises that threshold to the largest block freed (up to 32 MiB),
//   after which such blocks came from the threads' arenas and their memory stayed there.
//   Fixing it also fixes the trim threshold, 128 KiB unless set: 8 MiB free at an arena's top is
//   kept for reuse (at 128 KiB memory went back and was faulted in again, 15% slower at 1 KiB
//   chunks).
// * one arena per core instead of eight: each arena keeps its own freed memory (-20 MiB of peak
//   RSS at 1 KiB chunks into 11 M blobs, 2 cores).
// * a thread that trims the arenas every few seconds (below).
// docs/perf.md, "Toward 80%". A user's own MALLOC_MMAP_THRESHOLD_ or MALLOC_ARENA_MAX wins.
void TuneMalloc() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
  }
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  }
  // Every 5 s, freed pages inside the arenas (not only at their tops) go back to the system: the
  // live heap of a snapshot stays ~110 MB however long its stream, but without this its RSS kept
  // growing with the stream as the block cache and memtables churned (8 -> 16 GiB: +31 MiB; with
  // it +9). Its cost is the pages faulted in again: none measurable at 1 KiB chunks; at the
  // default chunks four pairs of 4 GiB snapshots gave -1, +1, +6 and +30% wall time (noisy).
  try {
    std::thread([] {
      for (;;) {
        std::this_thread::sleep_for(std::chrono::seconds(5));
        malloc_trim(0);
      }
    }).detach();
  } catch (const std::system_error&) {
    // No thread to spare (a process limit): the command runs without trimming.
  }
}

// SIGINT, SIGTERM and SIGHUP go to one thread (blocked in every other, which inherit the mask
// from here), which removes this process's session records and then dies of the signal, as
// without this (a shell running a script sees Ctrl-C as Ctrl-C; systemd sees a stop by SIGTERM):
// an interrupted command leaves no record that another has to clear up (a killed one leaves one
// that the next command on this host removes, docs/design.md, "Sessions"). A signal the process
// was started with ignored (nohup, `cmd &` in a script) stays ignored. Child processes get the
// mask this process started with back (repo/os/child_process.cc). A command that stops cleanly
// (the mount: it unmounts and exits 0) is asked to by the first signal (InterruptHandler, app.h).
void HandleSignals() {
  sigset_t set, original;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current;
    if (sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
    sigaddset(&set, sig);
  }
  if (pthread_sigmask(SIG_BLOCK, &set, &original) != 0) return;
  repo::SetChildSignalMask(original);
  try {
    std::thread([set] {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) return;
      // A command that stops cleanly (repo mount) is asked to; the next signal ends it below.
      if (repo::cli::StartInterruptHandler() && sigwait(&set, &sig) != 0) return;
      // The records go first. More signals meanwhile (systemd's SIGTERM and SIGHUP back to back,
      // a hang-up after Ctrl-C) stay blocked for a 2 s grace; one after it (removing the records
      // hangs on a dead mount) ends the process at once.
      std::atomic<bool> done{false};
      std::thread cleaner;
      try {
        cleaner = std::thread([&done] {
          repo::Session::EndAllForExit();
          done = true;
        });
      } catch (const std::system_error&) {
        repo::Session::EndAllForExit();  // no thread to spare: here, without the grace
        done = true;
      }
      const auto start = std::chrono::steady_clock::now();
      while (!done) {
        const timespec tick{0, 50 * 1000 * 1000};
        if (sigtimedwait(&set, nullptr, &tick) > 0 &&
            std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
          break;
        }
      }
      if (cleaner.joinable()) {
        if (done) {
          cleaner.join();
        } else {
          cleaner.detach();
        }
      }
      // Then die of the first signal, as without this thread.
      for (int s : {SIGINT, SIGTERM, SIGHUP}) {
        if (sigismember(&set, s)) signal(s, SIG_DFL);
      }
      pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      raise(sig);
      _exit(128 + sig);
    }).detach();
  } catch (const std::system_error&) {
    pthread_sigmask(SIG_SETMASK, &original, nullptr);  // no thread: the default actions
  }
}

}  // namespace

int main(int argc, char** argv) {
  HandleSignals();
  TuneMalloc();
  try {
    return repo::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "repo: internal error: %s (please report this)\n", e.what());
    return repo::cli::kExitError;
  }
}
