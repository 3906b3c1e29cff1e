// The CLI's shared plumbing: global options, exit codes, opening the repository, and printing.
// Each command lives in its own cmd_*.cc and registers itself in main.cc's table.
#pragma once

#include <chrono>
#include <cxxopts.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/password.h"
#include "crypto/key_file.h"
#include "repo/model/snapshot.h"
#include "repo/model/tree.h"
#include "repo/store/repository.h"
#include "repo/store/session.h"

namespace repo::cli {

// Exit codes (docs/cli.md, "Exit codes"). Scripts rely on these: never renumber.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,           // any failure not listed below
  kExitUsage = 2,           // bad command line, bad option value, no password source
  kExitIncomplete = 3,      // snapshot made, but some files could not be read
  kExitNoRepository = 10,   // no repository at the given location
  kExitLocked = 11,         // another process holds a lock we need
  kExitWrongPassword = 12,  // no key opens with the password
  kExitDamaged = 13,        // stored data failed a check (corruption)
  kExitTooNew = 14,         // repository format newer than this binary
  kExitInterrupted = 130,   // SIGINT
};

struct GlobalOptions {
  std::string repo;  // -r/--repo, REPO_REPOSITORY
  PasswordSource password;
  std::string cache_dir;  // --cache-dir, REPO_CACHE_DIR, default DefaultCacheDir()
  bool json = false;
  int verbosity = 0;  // -q: -1, -v: 1, -vv: 2
};

struct Context {
  GlobalOptions global;
  cxxopts::ParseResult args;
  std::vector<std::string> positional;
  std::vector<std::string> after_dashes;  // arguments after "--", verbatim
};

// Prints "repo: <message>" to stderr and returns the exit code for s.
int Fail(const Status& s);
// Like Fail, for errors from OpenRepository: NotFound there means no repository (exit 10).
int FailOpen(const Status& s);
// Exit code for a status (kExitOk for OK).
int ExitCodeFor(const Status& s);

// For a command that stops cleanly on SIGINT, SIGTERM and SIGHUP (the mount unmounts): from
// construction to destruction, the first such signal runs `stop` (on a thread of its own)
// instead of ending the process, and the command returns as usual; a second one ends the process
// as without it. `stop` may run at any moment in between, before the command is ready too. The
// destructor waits for a `stop` that was started (joins its thread): once it returns, none runs
// or will.
class InterruptHandler {
 public:
  explicit InterruptHandler(std::function<void()> stop);
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;
};
// For main.cc's signal thread: starts the `stop` set now on a thread of its own, which the
// InterruptHandler's destructor joins. False if none is set (or no thread could be made).
bool StartInterruptHandler();

// Opens the repository named by the global options, asking for its password.
Result<std::unique_ptr<Repository>> OpenRepository(const GlobalOptions& g);

// KDF parameters from --kdf-memory-kib / --kdf-iterations (added by AddKdfOptions).
void AddKdfOptions(cxxopts::Options& options);
Result<KdfParams> KdfFromArgs(const cxxopts::ParseResult& args);

// Parses "512", "64K", "16M", "1G" (binary units) into bytes.
Result<uint64_t> ParseSize(const std::string& text, const std::string& option);
// Parses a duration: a number with a unit, s (seconds), m (minutes), h, d or w, or several of
// them ("1h30m"). InvalidArgument naming --option otherwise.
Result<std::chrono::seconds> ParseDuration(const std::string& text, const std::string& option);

// --assume-dead-after DURATION, for commands that judge other sessions (sessions, repair).
void AddSessionOptions(cxxopts::Options& options);
// The options of a session this command registers: a stale session it removes is noted as a
// warning; --assume-dead-after where the command has it.
Result<SessionOptions> SessionOptionsFrom(const Context& ctx);
// Registers this command's session (docs/design.md, "Sessions").
Result<std::unique_ptr<Session>> BeginSession(Repository& repo, const Context& ctx,
                                              SessionKind kind, const std::string& command);

// Snapshot selection options shared by commands: --host, --tag, --path.
void AddFilterOptions(cxxopts::Options& options);
SnapshotFilter FilterFromArgs(const cxxopts::ParseResult& args);
// Resolves `ref` ("latest" or an id prefix) among the repository's snapshots.
Result<SnapshotRef> LoadSnapshot(Repository& repo, const std::string& ref,
                                 const SnapshotFilter& filter);

// "1.5 GiB", "312 KiB", "17 B".
std::string FormatBytes(uint64_t bytes);
// "1:02:03" or "2:03".
std::string FormatDuration(double seconds);
// True if stderr is a terminal (progress lines make sense).
bool StderrIsTerminal();

// A node as `ls -l` shows it: mode, owner, group, size, mtime, path (and "-> target").
std::string FormatNodeLong(const std::string& path, const Node& node);

// Writes one line to stdout.
void Print(const std::string& line);
// "2026-11-23 02:52:47" in local time.
std::string FormatTime(int64_t unix_seconds);

}  // namespace repo::cli
