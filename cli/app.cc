#include "cli/app.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <system_error>
#include <thread>

#include "repo/storage/location.h"

namespace repo::cli {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kWrongPassword:
      return kExitWrongPassword;
    case StatusCode::kCorruption:
      return kExitDamaged;
    case StatusCode::kUnsupportedVersion:
      return kExitTooNew;
    case StatusCode::kLocked:
      return kExitLocked;
    default:
      return kExitError;
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "repo: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

int FailOpen(const Status& s) {
  int code = Fail(s);
  return s.IsNotFound() ? kExitNoRepository : code;
}

namespace {
std::mutex interrupt_mu;
std::function<void()> interrupt_handler;  // under interrupt_mu
std::thread interrupt_thread;             // under interrupt_mu: the one running a handler
}  // namespace

InterruptHandler::InterruptHandler(std::function<void()> stop) {
  std::lock_guard<std::mutex> lock(interrupt_mu);
  interrupt_handler = std::move(stop);
}

InterruptHandler::~InterruptHandler() {
  std::thread running;
  {
    std::lock_guard<std::mutex> lock(interrupt_mu);
    interrupt_handler = nullptr;
    running = std::move(interrupt_thread);
  }
  if (running.joinable()) running.join();
}

bool StartInterruptHandler() {
  std::lock_guard<std::mutex> lock(interrupt_mu);
  if (!interrupt_handler || interrupt_thread.joinable()) return false;
  try {
    interrupt_thread = std::thread(interrupt_handler);
  } catch (const std::system_error&) {
    return false;  // no thread to spare: the process ends of the signal
  }
  return true;
}

Result<std::unique_ptr<Repository>> OpenRepository(const GlobalOptions& g) {
  if (g.repo.empty()) {
    return Status::InvalidArgument("no repository given: use -r/--repo or REPO_REPOSITORY");
  }
  ASSIGN_OR_RETURN(auto backend, OpenLocation(g.repo));
  ASSIGN_OR_RETURN(SecretBytes password,
                   ReadPassword(g.password, "enter password for repository " + g.repo, false));
  // Printed as "repo: warning: ..." unless -q (the logger's level, set in main.cc).
  return Repository::Open(std::move(backend), password, g.cache_dir,
                          [](const std::string& m) { spdlog::warn("{}", m); });
}

Result<std::chrono::seconds> ParseDuration(const std::string& text, const std::string& option) {
  const auto bad = [&] {
    return Status::InvalidArgument("--" + option + ": '" + text +
                                   "' is not a duration (use e.g. 90s, 30m, 12h, 7d, 2w or 1h30m)");
  };
  if (text.empty()) return bad();
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
      ++digits;
    }
    if (digits == i || digits == text.size() || digits - i > 9) return bad();
    const uint64_t n = std::stoull(text.substr(i, digits - i));
    uint64_t unit = 0;
    switch (text[digits]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return bad();
    }
    total += n * unit;
    if (total > 100ull * 366 * 86400) {
      return Status::InvalidArgument("--" + option + ": '" + text + "' is longer than 100 years");
    }
    i = digits + 1;
  }
  return std::chrono::seconds(total);
}

void AddSessionOptions(cxxopts::Options& options) {
  options.add_options()("assume-dead-after",
                        "count sessions not refreshed for this long (e.g. 2h) as dead, also "
                        "those of other hosts",
                        cxxopts::value<std::string>());
}

Result<SessionOptions> SessionOptionsFrom(const Context& ctx) {
  SessionOptions o;
  o.note = [](const std::string& m) { spdlog::warn("{}", m); };
  if (ctx.args.count("assume-dead-after")) {
    ASSIGN_OR_RETURN(
        o.assume_dead_after,
        ParseDuration(ctx.args["assume-dead-after"].as<std::string>(), "assume-dead-after"));
    // A running session rewrites its record every refresh interval: anything shorter than a few
    // of them would declare live writers dead between two refreshes.
    const auto shortest = std::chrono::duration_cast<std::chrono::seconds>(3 * o.refresh_interval);
    if (*o.assume_dead_after < shortest) {
      return Status::InvalidArgument("--assume-dead-after must be at least " +
                                     std::to_string(shortest.count() / 60) +
                                     "m (three refresh intervals of a running session)");
    }
  }
  return o;
}

Result<std::unique_ptr<Session>> BeginSession(Repository& repo, const Context& ctx,
                                              SessionKind kind, const std::string& command) {
  ASSIGN_OR_RETURN(SessionOptions options, SessionOptionsFrom(ctx));
  return Session::Begin(repo, kind, command, {}, std::move(options));
}

void AddKdfOptions(cxxopts::Options& options) {
  KdfParams d = KdfParams::Default();
  options.add_options("key derivation")(
      "kdf-memory-kib", "Argon2id memory for the new key, in KiB",
      cxxopts::value<uint64_t>()->default_value(std::to_string(d.memlimit >> 10)))(
      "kdf-iterations", "Argon2id passes for the new key",
      cxxopts::value<uint64_t>()->default_value(std::to_string(d.opslimit)));
}

Result<KdfParams> KdfFromArgs(const cxxopts::ParseResult& args) {
  KdfParams kdf;
  kdf.memlimit = args["kdf-memory-kib"].as<uint64_t>() << 10;
  kdf.opslimit = args["kdf-iterations"].as<uint64_t>();
  RETURN_IF_ERROR(kdf.Validate());
  return kdf;
}

Result<uint64_t> ParseSize(const std::string& text, const std::string& option) {
  size_t pos = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (...) {
    return Status::InvalidArgument("--" + option + ": '" + text + "' is not a size");
  }
  std::string unit = text.substr(pos);
  int shift = unit.empty() || unit == "B"      ? 0
              : (unit == "K" || unit == "KiB") ? 10
              : (unit == "M" || unit == "MiB") ? 20
              : (unit == "G" || unit == "GiB") ? 30
                                               : -1;
  if (shift < 0 || v > (UINT64_MAX >> shift)) {
    return Status::InvalidArgument("--" + option + ": '" + text +
                                   "' is not a size (use a number with K, M or G)");
  }
  return v << shift;
}

void AddFilterOptions(cxxopts::Options& options) {
  options.add_options("snapshot filter")("host", "only snapshots of this host (repeatable)",
                                         cxxopts::value<std::vector<std::string>>())(
      "tag", "only snapshots with these tags: 'a,b' means both (repeatable: either)",
      cxxopts::value<std::vector<std::string>>())(
      "path", "only snapshots that include this path (repeatable: all)",
      cxxopts::value<std::vector<std::string>>());
}

SnapshotFilter FilterFromArgs(const cxxopts::ParseResult& args) {
  SnapshotFilter f;
  if (args.count("host")) f.hosts = args["host"].as<std::vector<std::string>>();
  if (args.count("tag")) f.tags = args["tag"].as<std::vector<std::string>>();
  if (args.count("path")) f.paths = args["path"].as<std::vector<std::string>>();
  return f;
}

Result<SnapshotRef> LoadSnapshot(Repository& repo, const std::string& ref,
                                 const SnapshotFilter& filter) {
  ASSIGN_OR_RETURN(auto all, ListSnapshots(repo));
  return FindSnapshot(all, ref, filter);
}

std::string FormatBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, kUnits[u]);
  }
  return buf;
}

std::string FormatDuration(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

namespace {

std::string ModeString(const Node& n) {
  std::string s = "----------";
  switch (n.type) {
    case NodeType::kDir:
      s[0] = 'd';
      break;
    case NodeType::kSymlink:
      s[0] = 'l';
      break;
    case NodeType::kFifo:
      s[0] = 'p';
      break;
    case NodeType::kCharDevice:
      s[0] = 'c';
      break;
    case NodeType::kBlockDevice:
      s[0] = 'b';
      break;
    case NodeType::kSocket:
      s[0] = 's';
      break;
    default:
      break;
  }
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (n.mode & (0400 >> i)) s[i + 1] = rwx[i];
  }
  if (n.mode & 04000) s[3] = (n.mode & 0100) ? 's' : 'S';
  if (n.mode & 02000) s[6] = (n.mode & 0010) ? 's' : 'S';
  if (n.mode & 01000) s[9] = (n.mode & 0001) ? 't' : 'T';
  return s;
}

}  // namespace

std::string FormatNodeLong(const std::string& path, const Node& n) {
  char line[256];
  std::snprintf(line, sizeof line, "%s %-8s %-8s %12llu %s ", ModeString(n).c_str(),
                (n.user.empty() ? std::to_string(n.uid) : n.user).c_str(),
                (n.group.empty() ? std::to_string(n.gid) : n.group).c_str(),
                static_cast<unsigned long long>(n.size),
                FormatTime(n.mtime_ns / 1000000000).c_str());
  std::string out = line + path;
  if (n.type == NodeType::kSymlink) out += " -> " + n.link_target;
  return out;
}

void Print(const std::string& line) { std::cout << line << '\n'; }

std::string FormatTime(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm local{};
  localtime_r(&t, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

}  // namespace repo::cli
